#!/usr/bin/python3
"""sink.py - a capture SMTP server for the end-to-end tests.

Listens on 127.0.0.1:PORT (loopback only) and writes every message it
accepts as one file DIR/NNNNNN.eml: an "X-Sink-Envelope:" header line with
MAIL FROM and RCPT TO, then the message as received (dot-unstuffed). A
file appears complete (written to a temp name, then renamed), so counting
files never sees half a message.

Usage: sink.py PORT DIR
"""
import itertools
import os
import socketserver
import sys
import threading

counter = itertools.count(1)
lock = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink.test.example ESMTP capture")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-sink.test.example\r\n250-8BITMIME\r\n250 PIPELINING"
                           if verb == "EHLO" else "250 sink.test.example")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip(), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip())
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if sender is None or not rcpts:
                    self.reply("503 5.5.1 need MAIL and RCPT")
                    continue
                self.reply("354 go ahead")
                body = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    body.append(l)
                with lock:
                    n = next(counter)
                path = os.path.join(self.server.dir, "%06d.eml" % n)
                with open(path + ".tmp", "wb") as f:
                    f.write(("X-Sink-Envelope: from=%s to=%s\r\n"
                             % (sender, ",".join(rcpts))).encode())
                    f.writelines(body)
                os.rename(path + ".tmp", path)
                self.reply("250 2.0.0 Ok: captured as %06d" % n)
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    srv = Server(("127.0.0.1", port), Handler)
    srv.dir = directory
    srv.serve_forever()


if __name__ == "__main__":
    main()
