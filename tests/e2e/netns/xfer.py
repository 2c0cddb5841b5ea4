#!/usr/bin/env python3
"""xfer.py - seeded two-way TCP transfers that record what each end received.

  xfer.py server ADDR PORT OUTDIR
      accepts connections until killed; each one sends an 8-byte header
      (u32 response length, u32 response seed), then its request. The server
      sends the response (random bytes from the seed) while it reads the
      request to EOF, then closes, and writes everything it received on that
      connection to OUTDIR/srv-<client port>.bin.
  xfer.py client ADDR PORT OUTDIR SEED N
      runs N connections, two at a time, with request and response sizes
      drawn from SEED (a few small requests with big responses, like HTTP,
      and some big uploads during the download); writes what it received on
      each to OUTDIR/cli-<local port>.bin and exits 0 when all completed.

The files are the ground truth the impairment test compares mos-lua's
reassembled streams with: srv-P.bin is the client-to-server stream of the
connection from port P, cli-P.bin the server-to-client one.
"""
import os
import random
import socket
import struct
import sys
import threading


def rand_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def serve_one(conn, outdir):
    port = conn.getpeername()[1]
    got = bytearray()
    while len(got) < 8:
        d = conn.recv(65536)
        if not d:
            break
        got += d
    sender = None
    if len(got) >= 8:
        n, seed = struct.unpack("!II", got[:8])
        body = rand_bytes(seed, n)
        sender = threading.Thread(target=conn.sendall, args=(body,))
        sender.start()
    while True:
        d = conn.recv(65536)
        if not d:
            break
        got += d
    if sender:  # a connection without a header (a readiness probe) leaves no file
        sender.join()
        with open(os.path.join(outdir, "srv-%d.bin" % port), "wb") as f:
            f.write(got)
    conn.close()


def server(addr, port, outdir):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(16)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve_one, args=(conn, outdir), daemon=True).start()


def run_one(addr, port, outdir, req_len, resp_len, seed, errors):
    try:
        s = socket.create_connection((addr, port), timeout=30)
        lport = s.getsockname()[1]
        req = struct.pack("!II", resp_len, seed) + rand_bytes(seed + 1, req_len)
        got = bytearray()

        def reader():
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got.extend(d)

        r = threading.Thread(target=reader)
        r.start()
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
        r.join()
        s.close()
        if bytes(got) != rand_bytes(seed, resp_len):
            errors.append("port %d: response differs (%d of %d bytes)" % (lport, len(got), resp_len))
        with open(os.path.join(outdir, "cli-%d.bin" % lport), "wb") as f:
            f.write(got)
    except OSError as e:
        errors.append(str(e))


def client(addr, port, outdir, seed, n):
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        if i % 2 == 0:  # HTTP-like: small request, big response
            plan.append((rng.randrange(100, 2000), rng.randrange(200_000, 600_000)))
        else:  # upload during a download
            plan.append((rng.randrange(100_000, 400_000), rng.randrange(50_000, 300_000)))
    errors = []
    for i in range(0, n, 2):
        ts = [threading.Thread(target=run_one, args=(addr, port, outdir, q, r, seed * 1000 + i + j, errors))
              for j, (q, r) in enumerate(plan[i : i + 2])]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    if errors:
        sys.exit("xfer client: " + "; ".join(errors))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(__doc__)
