#!/usr/bin/env python3
"""msg_peer.py - a tiny two-round TCP exchange for the rewrite tests.

  msg_peer.py server ADDR PORT   answer one connection, then exit:
      reads "ONE\\n", sends BODY1; reads "TWO <n>\\n" + n bytes, checks them,
      sends BODY2 ("OK <n>" or "BAD"); closes.
  msg_peer.py client ADDR PORT OUT
      runs the client side and writes everything it received to OUT.
The bodies are fixed so the test knows exactly what the client must get.
"""
import socket
import sys

BODY1 = b"BEGIN:" + b"x" * 3000 + b":HELLO-MOS-LUA:" + b"y" * 500 + b":END1\n"
PAYLOAD2 = bytes(range(256)) * 40  # 10240 bytes client -> server after the edit


def read_until(s, marker):
    buf = b""
    while marker not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed before %r" % marker)
        buf += d
    return buf


def read_n(s, n, buf=b""):
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def server(addr, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    while True:  # readiness probes connect and close: skip them
        c, _ = ls.accept()
        try:
            read_until(c, b"ONE\n")
            break
        except SystemExit:
            c.close()
    c.sendall(BODY1)
    head = read_until(c, b"\n")
    line, rest = head.split(b"\n", 1)
    n = int(line.split()[1])
    data = read_n(c, n, rest)
    c.sendall(b"OK %d\n" % n if data == PAYLOAD2 else b"BAD\n")
    c.close()


def client(addr, port, out):
    s = socket.create_connection((addr, port), timeout=10)
    s.sendall(b"ONE\n")
    got = read_until(s, b":END1\n")
    s.sendall(b"TWO %d\n" % len(PAYLOAD2) + PAYLOAD2)
    while True:  # the server answers and closes
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    with open(out, "wb") as f:
        f.write(got)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
