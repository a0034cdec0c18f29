#!/usr/bin/python3
"""seeds.py - write the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/).

The files are committed; this script is how they were made and why each
is there: rerun it after changing a seed. It rewrites its own seeds and
leaves other files (regression inputs of fixed bugs) alone. Run it from
anywhere with Debian's python3.

  milter  byte streams as an MTA writes them to a milter: packets of a
          4-byte big-endian length, a command byte (SMFIC_* of
          libmilter/mfdef.h) and the data; what Postfix and Sendmail send
          in the cases contactgate decides (tests/fuzz/milter.json) and
          the broken and hostile streams it must survive
  addr    a flag byte (1 fold_local, 2 strip_plus, 4 allow_null), then an
          address, glob or CIDR, optionally NUL and a text to match
  header  a selector byte (sender, client, body; see fuzz_header.c), then
          "Name: value" lines
  csv     import files, valid and broken
  config  configuration files (the shipped policy sets are copied in)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# SMFIF_* actions and SMFIP_* protocol flags an MTA offers
ALL_ACTIONS = 0x1FF
POSTFIX_PROTO = 0x1FFFFF          # every step flag and every no-reply flag
SENDMAIL_ACTIONS = 0x1FF
SENDMAIL_PROTO = 0x001FFFFF & ~0x00100000  # no HDR_LEADSPC


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def z(*parts):
    """NUL-terminated strings, concatenated"""
    return b"".join(p.encode() + b"\0" if isinstance(p, str) else p + b"\0" for p in parts)


def optneg(version=6, actions=ALL_ACTIONS, proto=POSTFIX_PROTO):
    return pkt(b"O", struct.pack(">III", version, actions, proto))


def macro(stage, *pairs):
    return pkt(b"D", stage + z(*pairs))


def connect(host="mail.bank.example", family=b"4", port=25, addr="192.0.2.10"):
    if family == b"U":
        return pkt(b"C", z(host) + b"U")
    return pkt(b"C", z(host) + family + struct.pack(">H", port) + z(addr))


def mail(sender, *args):
    return pkt(b"M", z(sender, *args))


def rcpt(addr, *args):
    return pkt(b"R", z(addr, *args))


def header(name, value):
    return pkt(b"L", z(name, value))


def body(text):
    return pkt(b"B", text.encode() if isinstance(text, str) else text)


EOH = pkt(b"N")
DATA = pkt(b"T")
EOB = pkt(b"E")
ABORT = pkt(b"A")
QUIT = pkt(b"Q")
QUIT_NC = pkt(b"K")


def session_start(client="192.0.2.10", host="mail.bank.example", daemon="smtpd"):
    return (optneg()
            + macro(b"C", "j", "relay.bank.example", "{daemon_name}", daemon,
                    "{client_addr}", client, "{client_name}", host)
            + connect(host=host, addr=client))


def message(sender, rcpts, headers, text="Dear customer,\r\nhello.\r\n", qid="4ABC123",
            auth=None):
    m = macro(b"M", "i", qid, "{mail_addr}", sender.strip("<>"),
              *(["{auth_authen}", auth] if auth else []))
    m += mail(sender, "SIZE=1234")
    for r in rcpts:
        m += macro(b"R", "{rcpt_addr}", r.strip("<>"), "i", qid) + rcpt(r)
    m += macro(b"T", "i", qid) + DATA
    for n, v in headers:
        m += header(n, v)
    m += EOH
    if text is not None:
        m += body(text)
    m += macro(b"E", "i", qid) + EOB
    return m


SEEDS = {}  # milter

# a bill from billing to one customer: accepted (and tagged once over 2 a day)
SEEDS["bill"] = (session_start()
                 + message("<billing@bank.example>", ["<ann@example.com>"],
                           [("Subject", "Your bill"), ("Message-ID", "<b1@bank.example>"),
                            ("X-Contact-Category", "functional.bill")])
                 + QUIT)

# a promotion, then the same letter again: the second is a duplicate (dedupe)
promo = [("Subject", "Offer of the week"), ("Message-ID", "<p1@offers.bank.example>"),
         ("List-Unsubscribe", "<mailto:unsub@bank.example>"),
         ("X-Contact-Category", "promotional.offer")]
SEEDS["promo_twice"] = (session_start()
                        + message("<deals@offers.bank.example>", ["<ben@example.com>"], promo,
                                  qid="5A")
                        + message("<deals@offers.bank.example>", ["<ben@example.com>"], promo,
                                  qid="5B")
                        + QUIT)

# a bill, then a promotion to the same customer: deferred at RCPT (48 h spacing)
SEEDS["spacing_rcpt"] = (session_start()
                         + message("<billing@bank.example>", ["<cid@example.com>"],
                                   [("Subject", "Bill")], qid="6A")
                         + message("<deals@offers.bank.example>",
                                   ["<cid@example.com>", "<dan@example.com>", "<staff@bank.example>"],
                                   promo, qid="6B")
                         + QUIT)

# five promotions to one customer: the weekly cap of 3 defers the rest
caps = session_start()
for i in range(5):
    caps += message("<deals@offers.bank.example>", ["<eve+promo@Example.COM>"],
                    [("Subject", "Offer %d" % i), ("Message-ID", "<c%d@x>" % i)],
                    text="offer %d" % i, qid="7%d" % i)
SEEDS["weekly_cap"] = caps + QUIT

# eleven service letters to one customer: over 10 a week they are held
# (quarantine, and the control header removed first)
held = session_start()
for i in range(11):
    held += message("<service@bank.example>", ["<hold@example.com>"],
                    [("Subject", "Notice %d" % i), ("X-Contact-Category", "functional.service")],
                    text="notice %d" % i, qid="9%02d" % i)
SEEDS["hold_after_ten"] = held + QUIT

# a shared CRM host (trusted client) naming the department in a header, which
# must be removed before delivery, with a category claim it may not make
SEEDS["trusted_header"] = (session_start(client="127.0.0.1", host="crm.bank.example")
                           + message("<noreply@crm.example>", ["<fay@example.com>"],
                                     [("X-Department", " marketing "),
                                      ("X-Contact-Category", "Functional.Bill"),
                                      ("Precedence", "bulk"), ("Subject", "news"),
                                      ("X-Department", "service")])
                           + QUIT)

# sendmail(1) through Postfix's pickup: emulated connection from localhost port 0
SEEDS["non_smtp"] = (optneg()
                     + macro(b"C", "{daemon_name}", "pickup")
                     + connect(host="localhost", addr="127.0.0.1", port=0)
                     + message("<marketing@bank.example>", ["<gus@example.com>"],
                               [("Subject", "hi")])
                     + QUIT)

# the null sender, an unknown department, IPv6, authenticated, ESMTP args
SEEDS["null_sender_v6"] = (optneg()
                           + macro(b"C", "{client_addr}", "IPv6:2001:db8::1")
                           + connect(host="[2001:db8::1]", family=b"6", addr="2001:db8::1")
                           + message("<>", ['<"lee smith"@example.com>', "<x@y>"],
                                     [("Subject", "bounce")], auth="ann")
                           + QUIT)

# Sendmail: no macros at all, unix socket peer, headers with leading spaces
SEEDS["sendmail_bare"] = (optneg(actions=SENDMAIL_ACTIONS, proto=SENDMAIL_PROTO)
                          + connect(host="localhost", family=b"L", port=0,
                                    addr="/var/run/sendmail.sock")
                          + mail("<service@bank.example>") + rcpt("<hal@example.com>")
                          + header("Subject", " service notice")
                          + header("X-Contact-Category", " functional.service")
                          + EOH + EOB + QUIT)

# the libmilter defect: macro packets whose last name has no value
SEEDS["macro_no_value"] = (optneg()
                           + macro(b"C", "{daemon_name}")
                           + connect()
                           + macro(b"M", "i", "8A", "{auth_authen}")
                           + mail("<billing@bank.example>")
                           + macro(b"R", "{rcpt_addr}")
                           + rcpt("<ivy@example.com>")
                           + macro(b"E", "i")
                           + header("Subject", "x") + EOB + QUIT)

# aborted transaction, then a new one; QUIT_NC, then a new connection
SEEDS["abort_quit_nc"] = (session_start()
                          + mail("<billing@bank.example>") + rcpt("<jo@example.com>")
                          + header("Subject", "a") + ABORT
                          + message("<billing@bank.example>", ["<jo@example.com>"],
                                    [("Subject", "b")])
                          + QUIT_NC
                          + connect(host="second.example", addr="192.0.2.99")
                          + message("<collections@bank.example>", ["<jo@example.com>"],
                                    [("Subject", "c")])
                          + QUIT)

# two connections in one stream, the second with an offer that lacks actions
SEEDS["two_connections"] = (session_start()
                            + message("<billing@bank.example>", ["<kim@example.com>"],
                                      [("Subject", "1")])
                            + QUIT
                            + optneg(actions=0, proto=0)
                            + connect(family=b"U")
                            + message("<deals@offers.bank.example>", ["<kim@example.com>"],
                                      [("Subject", "2")])
                            + QUIT)

# out of order: RCPT before MAIL, headers before DATA, an unknown command
# letting RCPT and BODY through, EOB twice
SEEDS["out_of_order"] = (session_start()
                         + rcpt("<lou@example.com>")
                         + header("Subject", "early")
                         + pkt(b"U", b"XYZZY\0")
                         + rcpt("<lou@example.com>")
                         + body("b") + EOB + EOB
                         + mail("<billing@bank.example>") + EOB
                         + QUIT)

# many recipients and many headers, long values
many = session_start() + mail("<deals@offers.bank.example>")
for i in range(20):
    many += rcpt("<r%d@example.com>" % i)
for i in range(40):
    many += header("X-Contact-Category" if i % 7 == 0 else "X-H%d" % i, "v" * (i * 13))
SEEDS["many"] = many + body("x" * 3000) + EOB + QUIT

# broken packets: a header with no value, a connect with a bad family, a
# short negotiation, a length beyond the stream
SEEDS["broken_header"] = session_start() + mail("<a@b>") + rcpt("<c@d>") + pkt(b"L", b"Subject\0")
SEEDS["broken_connect"] = optneg() + pkt(b"C", b"host\0X\0\x19bad\0")
SEEDS["short_optneg"] = pkt(b"O", b"\0\0\0\6") + connect()
SEEDS["truncated"] = session_start() + struct.pack(">I", 4000) + b"M<a@b>"


# --- addr: flag byte, address [NUL text] ------------------------------------
FOLD, STRIP, NULL_OK = 1, 2, 4
ADDR = {
    "plain": (FOLD, b"ann@example.com"),
    "angle_case_plus": (FOLD | STRIP, b"<Ann+Promo@Example.COM>"),
    "plus_kept": (FOLD, b"<Ann+Promo@Example.COM>"),
    "plus_first": (STRIP, b"+tag@example.com"),
    "null_sender": (NULL_OK, b"<>"),
    "null_refused": (0, b"<>"),
    "quoted_blank": (FOLD, b'"lee smith"@example.com'),
    "quoted_escape": (FOLD | STRIP, b'"a\\"b+c"@x.org'),
    "quoted_open": (FOLD, b'"unterminated@example.com'),
    "blanks_crlf": (FOLD, b"  <bob@EXAMPLE.org>  \r\n"),
    "no_at": (FOLD, b"no-at-sign"),
    "empty_local": (FOLD, b"@example.com"),
    "dot_domain": (FOLD, b"a@.example.com"),
    "trailing_dot": (FOLD, b"a@example.com."),
    "blank_inside": (FOLD, b"a b@example.com"),
    "two_at": (FOLD, b"a@b@c.example"),
    "too_long": (FOLD, b"x" * 250 + b"@example.com"),
    "control": (FOLD, b"a\x01b@example.com"),
    "high_bytes": (FOLD, b"J\xc3\xbcrgen@B\xc3\x9cRO.example"),
    "source_route": (FOLD, b"<@relay.example:user@example.com>"),
    "glob_sender": (FOLD, b"*@offers.bank.example\0deals@offers.bank.example"),
    "glob_question": (FOLD, b"seed-??@test.bank.example\0seed-42@Test.Bank.Example"),
    "glob_stars": (FOLD, b"**a*b**c*\0xxaxxbxxcxx"),
    "cidr_v4": (FOLD, b"10.0.0.0/8\x0010.1.2.3"),
    "cidr_v6": (FOLD, b"2001:db8::/32\0IPv6:2001:db8::1"),
    "cidr_mapped": (FOLD, b"192.0.2.0/24\0::ffff:192.0.2.1"),
    "cidr_bad_prefix": (FOLD, b"192.0.2.1/33\x00192.0.2.1"),
    "cidr_host": (FOLD, b"::1\0::1"),
}

# --- header: selector byte, "Name: value" lines -------------------------------
# selector: bits 0-2 sender (0 billing, 1 deals@offers, 2 service, 3
# collections, 4 null, 5 unknown, 6 care, 7 marketing), bits 3-4 client
# (0 127.0.0.1 trusted, 1 untrusted, 2 192.0.2.7 the crm net, 3 ::1), bit 5 body
def sel(sender, client, body=0):
    return bytes([sender | client << 3 | body << 5])


HEADER = {
    "bill": sel(0, 0) + b"Subject: Your bill\nMessage-ID: <b@x>\n"
                        b"X-Contact-Category: functional.bill.monthly\n",
    "claim_case": sel(1, 1) + b"X-Contact-Category: Promotional.Offer \n"
                              b"List-Unsubscribe: <mailto:u@x>\n",
    "claim_refused": sel(0, 1) + b"X-Contact-Category: promotional.offer\n",
    "dept_header": sel(4, 0) + b"X-Department:  marketing \n"
                               b"X-Contact-Category: promotional.newsletter\n",
    "dept_header_v6": sel(5, 3) + b"X-Department: crm\nPrecedence: bulk\n",
    "dept_untrusted": sel(5, 1) + b"X-Department: marketing\nList-Id: <news.bank.example>\n",
    "crm_net": sel(5, 2) + b"X-Contact-Category: *\nX-Contact-Category: a..b\n",
    "patterns": sel(3, 1) + b"X-Contact-Category: promotional.*\n"
                            b"X-Contact-Category: functional.bill.*\nX: functional.bill\n",
    "subject_body": sel(2, 1, 1) + b"Subject: Re: Fwd:  Hello   World\n"
                                   b"Message-ID: <m1@x>\nSubject: second\n",
    "claim_ugly": sel(7, 0) + b"X-Contact-Category: \xc3\x84\x01promo" + b"x" * 100 + b"\t\n",
    "no_colon": sel(6, 1) + b"NoColonHere\n: empty name\n\n:\n",
    "precedence": sel(1, 1) + b"Precedence:  JUNK \nPrecedence: list\n",
    "nul_inside": sel(0, 0) + b"X-Contact-Category: functional\0.bill\nSub\0ject: x\n",
}

# --- csv: import files ---------------------------------------------------------
CSV = {
    "bom_crlf": b"\xef\xbb\xbfaddress,customer,timezone\r\nann@example.com,C1,Europe/London\r\n",
    "quoted_multiline": b'address,customer,note\na@x,"C ""2""","multi\nline, with comma"\n',
    "unterminated": b'address,customer\na,"b\nc,d\n',
    "after_quote": b'"a"b,c\n',
    "quote_inside": b'a"b,c\n',
    "bad_utf8": b"a\xff,b\n",
    "overlong": b"a,\xc0\xaf\n",
    "surrogate": b"a,\xed\xa0\x80\n",
    "four_byte": b"\xf0\x9f\x98\x80,\xf4\x8f\xbf\xbf,\xf4\x90\x80\x80\n",
    "blanks": b"\n  \n a , b ,\n,,\n\t\n",
    "nul": b"a\0b,c\nd,e\n",
    "no_newline": b"last,line",
    "empty_quoted": b'"",""," "\n""\n',
}


def write(target, seeds):
    out = os.path.join(CORPUS, target)
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as fp:
            fp.write(data)
    return len(seeds)


def main():
    n = write("milter", SEEDS)
    n += write("addr", {k: bytes([f]) + v for k, (f, v) in ADDR.items()})
    n += write("header", HEADER)
    fixtures = os.path.join(HERE, "..", "fixtures", "ctl")
    for f in ("customers.csv", "optouts.csv"):
        with open(os.path.join(fixtures, f), "rb") as fp:
            CSV["fixture_" + f.split(".")[0]] = fp.read()
    n += write("csv", CSV)
    policies = os.path.join(HERE, "..", "..", "policies")
    configs = {}
    for f in sorted(os.listdir(policies)):
        if f.endswith(".json"):
            with open(os.path.join(policies, f), "rb") as fp:
                configs["policies_" + f[:-5]] = fp.read()
    n += write("config", configs)
    print("%d seeds under %s (the hand-written configs are in corpus/config too)" % (n, CORPUS),
          file=sys.stderr)


if __name__ == "__main__":
    main()
