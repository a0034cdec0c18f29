#!/usr/bin/python3
"""smtpc.py - a real SMTP client for the end-to-end tests and the demo.

Sends one message (or N in parallel, one connection each) to
127.0.0.1:PORT and prints one JSON line per message with every reply:
  {"mail": {"code": 250, "text": "..."},
   "rcpt": [{"to": "a@x", "code": 451, "text": "4.7.1 contact strategy: ..."}],
   "data": {"code": 250, "text": "2.0.0 Ok: queued as ..."}}
A refused recipient does not stop the transaction; DATA is sent when at
least one recipient was accepted (else data.code is 0).
"""
import argparse
import json
import smtplib
import sys
import threading
import time
import uuid
from email.utils import formatdate


def reply(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"code": code, "text": text}


def build(args, subject):
    lines = [
        "From: <%s>" % args.sender if args.sender else "From: <>",
        "To: " + ", ".join("<%s>" % t for t in args.to),
        "Subject: " + subject,
        "Date: " + formatdate(localtime=False),
        "Message-ID: <%s@client.test.example>" % uuid.uuid4().hex,
    ]
    lines += args.header
    return "\r\n".join(lines) + "\r\n\r\n" + args.body.replace("\n", "\r\n") + "\r\n"


def send_one(args, subject):
    res = {}
    try:
        s = smtplib.SMTP(timeout=args.timeout)
        s.connect("127.0.0.1", args.port)
        s.ehlo("client.test.example")
        res["mail"] = reply(*s.mail(args.sender))
        res["rcpt"] = []
        ok = 0
        for t in args.to:
            code, text = s.rcpt(t)
            res["rcpt"].append(dict(to=t, **reply(code, text)))
            ok += code // 100 == 2
        if ok and res["mail"]["code"] // 100 == 2:
            if args.raw:
                with open(args.raw, "rb") as f:
                    msg = f.read()
            else:
                msg = build(args, subject).encode("utf-8")
            res["data"] = reply(*s.data(msg))
        else:
            res["data"] = {"code": 0, "text": "no valid recipients"}
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
    except (OSError, smtplib.SMTPException) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--from", dest="sender", default="sender@test.example")
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--subject", default="test")
    p.add_argument("--body", default="This is a test message.")
    p.add_argument("--raw", help="send this file as the message content")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    if args.host not in ("127.0.0.1", "localhost"):
        p.error("loopback only: --host must be 127.0.0.1")
    if args.parallel <= 1:
        res = send_one(args, args.subject)
        print(json.dumps(res))
        return 1 if "error" in res else 0
    results = [None] * args.parallel
    start = threading.Event()

    def worker(i):
        start.wait()
        results[i] = send_one(args, "%s #%d" % (args.subject, i + 1))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.parallel)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    start.set()
    for t in threads:
        t.join()
    for r in results:
        print(json.dumps(r))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
