#!/usr/bin/python3
"""smtpc.py - a real SMTP client for the end-to-end tests and the demo.

Sends one message (or N in parallel, one connection each) to
127.0.0.1:PORT and prints one JSON line per message with every reply:
  {"mail": {"code": 250, "text": "..."},
   "rcpt": [{"to": "a@x", "code": 451, "text": "4.7.1 contact strategy: ..."}],
   "data": {"code": 250, "text": "2.0.0 Ok: queued as ..."}}
"text" is the server's reply text as sent (enhanced status code included,
lines of a multi-line reply joined with "\\n"). A refused recipient does not
stop the transaction; DATA is sent when at least one recipient was
accepted (else data is {"code": 0, "text": "no valid recipients"}).
A connection error gives {"error": "..."} (plus the replies so far) and
exit status 1; otherwise the exit status is 0 whatever the reply codes.

Loopback only: --host must be 127.0.0.1.
"""
import argparse
import json
import re
import smtplib
import sys
import threading
import uuid
from email.utils import formatdate


def reply(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"code": int(code), "text": text}


def build(args, subject):
    lines = [
        "From: <%s>" % args.sender,
        "To: " + ", ".join("<%s>" % t for t in args.to),
        "Subject: " + subject,
        "Date: " + formatdate(localtime=False),
        "Message-ID: <%s@client.test.example>" % uuid.uuid4().hex,
    ]
    lines += args.header
    body = args.body.replace("\r\n", "\n").split("\n")
    return ("\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode("utf-8")


def raw_content(path):
    with open(path, "rb") as f:
        data = f.read()
    # smtplib does not fix line ends of bytes: make every line end CRLF
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def send_one(args, subject, content=None):
    res = {}
    s = smtplib.SMTP(timeout=args.timeout)
    try:
        code, text = s.connect(args.host, args.port)
        if code != 220:
            res["connect"] = reply(code, text)
        s.ehlo("client.test.example")
        res["mail"] = reply(*s.mail(args.sender))
        res["rcpt"] = []
        accepted = 0
        for t in args.to:
            code, text = s.rcpt(t)
            res["rcpt"].append(dict(to=t, **reply(code, text)))
            if 200 <= code < 300:
                accepted += 1
        if accepted:
            msg = content if content is not None else build(args, subject)
            try:
                res["data"] = reply(*s.data(msg))
            except smtplib.SMTPDataError as e:   # DATA itself refused (not 354)
                res["data"] = reply(e.smtp_code, e.smtp_error)
        else:
            res["data"] = {"code": 0, "text": "no valid recipients"}
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass
    except (OSError, smtplib.SMTPException) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
        try:
            s.close()
        except OSError:
            pass
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--from", dest="sender", default="sender@test.example",
                   help='envelope sender; "" for the null sender')
    p.add_argument("--to", action="append", required=True, help="repeatable")
    p.add_argument("--header", action="append", default=[],
                   help='"Name: value", repeatable')
    p.add_argument("--subject", default="test")
    p.add_argument("--body", default="This is a test message.")
    p.add_argument("--raw", help="send this file as the DATA content")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    if args.host != "127.0.0.1":
        p.error("loopback only: --host must be 127.0.0.1")
    if args.port == 25 or not 0 < args.port < 65536:
        p.error("bad --port (never 25)")
    if args.parallel < 1:
        p.error("--parallel must be >= 1")
    for h in args.header:
        if not re.match(r"^[!-9;-~]+:", h):
            p.error("--header must be 'Name: value': %r" % h)
    content = raw_content(args.raw) if args.raw else None

    if args.parallel == 1:
        results = [send_one(args, args.subject, content)]
    else:
        n = args.parallel
        results = [None] * n
        barrier = threading.Barrier(n)

        def worker(i):
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            try:
                results[i] = send_one(args, "%s #%d" % (args.subject, i + 1), content)
            except Exception as e:  # never lose a line
                results[i] = {"error": "%s: %s" % (type(e).__name__, e)}

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for r in results:
        print(json.dumps(r))
    sys.stdout.flush()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
