#!/usr/bin/env python3
"""milter_optneg.py PORT|unix:PATH - the option negotiation a milter on
127.0.0.1:PORT (or the unix socket PATH) answers when offered everything (milter protocol version 6, every action,
every protocol flag), as JSON: {"version", "actions", "protocol",
"protocol_flags": [names]}. Exit 1 with a message on stderr when there is
no valid answer."""
import json
import socket
import struct
import sys

# libmilter's SMFIP_* protocol flags (mfapi.h)
FLAGS = {
    0x1: "NOCONNECT", 0x2: "NOHELO", 0x4: "NOMAIL", 0x8: "NORCPT", 0x10: "NOBODY",
    0x20: "NOHDRS", 0x40: "NOEOH", 0x80: "NR_HDR", 0x100: "NOUNKNOWN", 0x200: "NODATA",
    0x400: "SKIP", 0x800: "RCPT_REJ", 0x1000: "NR_CONN", 0x2000: "NR_HELO",
    0x4000: "NR_MAIL", 0x8000: "NR_RCPT", 0x10000: "NR_DATA", 0x20000: "NR_UNKN",
    0x40000: "NR_EOH", 0x80000: "NR_BODY", 0x100000: "HDR_LEADSPC",
}


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def main():
    where = sys.argv[1]
    if where.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(where[5:])
    else:
        s = socket.create_connection(("127.0.0.1", int(where)), timeout=10)
    with s:
        body = b"O" + struct.pack("!III", 6, 0x1FF, 0x1FFFFF)
        s.sendall(struct.pack("!I", len(body)) + body)
        (length,) = struct.unpack("!I", recv_exact(s, 4))
        reply = recv_exact(s, length)
        if reply[:1] != b"O" or length < 13:
            sys.exit("milter_optneg: not an option negotiation reply: %r" % reply[:20])
        version, actions, protocol = struct.unpack("!III", reply[1:13])
        s.sendall(struct.pack("!I", 1) + b"Q")  # quit
    names = [name for bit, name in sorted(FLAGS.items()) if protocol & bit]
    print(json.dumps({"version": version, "actions": actions, "protocol": protocol,
                      "protocol_flags": names}))


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError, ValueError, IndexError) as e:
        sys.exit("milter_optneg: %s" % e)
