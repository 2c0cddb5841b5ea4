#!/usr/bin/env python3
"""storm_pcap.py OUT N [D] - a capture where N TCP connections are open at once.

Phase 1: every connection's SYN, then every SYN/ACK, then every ACK (N flows
tracked together); phase 2: D rounds in which every connection sends 10
bytes each way; phase 3: every connection closes (FIN, FIN/ACK, ACK). So
between the last handshake and the first FIN exactly N flows are live and
their number does not change: memory measured across that stretch shows
what reloads cost, not what flows cost. Packets are 1 us apart; checksums
are left 0 (run with -c core.checksum=ignore). Packets per flow: 6 + 2*D.
"""
import struct
import sys


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    d = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    f = open(out, "wb", buffering=1 << 22)
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t = [1700000000 * 1000000]
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    srv = bytes((10, 255, 0, 1))

    def cli(i):
        return bytes((10, 1 + (i >> 16), (i >> 8) & 255, i & 255))

    def pkt(i, from_cli, seq, ack, flags, data=b""):
        c = cli(i)
        sport, dport = 10000 + (i % 50000), 80
        src, dst = (c, srv) if from_cli else (srv, c)
        sp, dp = (sport, dport) if from_cli else (dport, sport)
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
        frame = eth + ip + tcp
        t[0] += 1
        f.write(struct.pack("<IIII", t[0] // 1000000, t[0] % 1000000, len(frame), len(frame)))
        f.write(frame)

    SYN, ACK, PSH, FIN = 2, 16, 8, 1
    C0, S0 = 1000, 500000
    for i in range(n):
        pkt(i, True, C0, 0, SYN)
    for i in range(n):
        pkt(i, False, S0, C0 + 1, SYN | ACK)
    for i in range(n):
        pkt(i, True, C0 + 1, S0 + 1, ACK)
    for r in range(d):
        for i in range(n):
            pkt(i, True, C0 + 1 + 10 * r, S0 + 1 + 10 * r, PSH | ACK, b"c%09d" % r)
            pkt(i, False, S0 + 1 + 10 * r, C0 + 1 + 10 * (r + 1), PSH | ACK, b"s%09d" % r)
    cs, ss = C0 + 1 + 10 * d, S0 + 1 + 10 * d
    for i in range(n):
        pkt(i, True, cs, ss, FIN | ACK)
    for i in range(n):
        pkt(i, False, ss, cs + 1, FIN | ACK)
    for i in range(n):
        pkt(i, True, cs + 1, ss + 1, ACK)
    f.close()


if __name__ == "__main__":
    main()
