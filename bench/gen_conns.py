#!/usr/bin/env python3
"""gen_conns.py - write a pcap of N complete, independent TCP connections.

    bench/gen_conns.py OUT.pcap N [--data C2S,S2C] [--syn-only]

Each connection: SYN, SYN/ACK, ACK, then (with --data) one client segment of
C2S bytes and one server segment of S2C bytes, each acknowledged, then FIN,
FIN/ACK, ACK. Clients are 10.0.0.0/8 addresses counted up from 10.0.0.1
(port 40000 + k % 20000), the server is 192.0.2.1:80; connections follow one
another 10 us apart, so only a few are open at once. Checksums are correct.
--syn-only writes one SYN per connection instead (a half-open flow each).
Used by tests/e2e/test_flowdump_big.sh (flowdump on 1,000,000 connections)."""
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    out, n = args[0], int(args[1])
    c2s = s2c = 0
    syn_only = "--syn-only" in args
    if "--data" in args:
        c2s, s2c = (int(x) for x in args[args.index("--data") + 1].split(","))
    srv = bytes([192, 0, 2, 1])
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    f = open(out, "wb")
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t_us = 1700000000 * 1000000
    w = f.write
    pack = struct.pack

    def seg(src, dst, sport, dport, seq, ack, flags, payload):
        nonlocal t_us
        t_us += 1
        tcp = pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
        pseudo = src + dst + pack("!BBH", 0, 6, 20 + len(payload))
        tcp = tcp[:16] + pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
        iph = pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        iph = iph[:10] + pack("!H", csum(iph)) + iph[12:]
        frame = eth + iph + tcp + payload
        w(pack("<IIII", t_us // 1000000, t_us % 1000000, len(frame), len(frame)) + frame)

    SYN, ACK, FIN, PSH = 2, 16, 1, 8
    dc, ds = b"q" * c2s, b"r" * s2c
    for k in range(n):
        a = k + 1
        cli = bytes([10, (a >> 16) & 255, (a >> 8) & 255, a & 255])
        cp, sp = 40000 + k % 20000, 80
        ci, si = 1000, 5000
        seg(cli, srv, cp, sp, ci, 0, SYN, b"")
        if syn_only:
            continue
        seg(srv, cli, sp, cp, si, ci + 1, SYN | ACK, b"")
        seg(cli, srv, cp, sp, ci + 1, si + 1, ACK, b"")
        c, s = ci + 1, si + 1
        if c2s:
            seg(cli, srv, cp, sp, c, s, ACK | PSH, dc)
            c += c2s
            seg(srv, cli, sp, cp, s, c, ACK, b"")
        if s2c:
            seg(srv, cli, sp, cp, s, c, ACK | PSH, ds)
            s += s2c
            seg(cli, srv, cp, sp, c, s, ACK, b"")
        seg(cli, srv, cp, sp, c, s, FIN | ACK, b"")
        seg(srv, cli, sp, cp, s, c + 1, FIN | ACK, b"")
        seg(cli, srv, cp, sp, c + 1, s + 1, ACK, b"")
        t_us += 10
    f.close()


if __name__ == "__main__":
    main()
