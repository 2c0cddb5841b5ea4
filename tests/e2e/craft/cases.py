#!/usr/bin/env python3
"""cases.py - generate the hand-crafted captures of tests/e2e/test_crafted.sh.

Usage: cases.py OUTDIR [CASE...]   writes OUTDIR/<case>.pcap (and the extra
input files of the malformed-input cases).

Each case is a short ladder diagram in code; the expected flowdump output is
worked out by hand in tests/e2e/crafted_expect/<case>.json, from the intent
written in the comments here, never from a run of mos-lua. Stream offsets
below are relative: offset 0 is the byte after the SYN (ISN+1).
All addresses are in 198.18.0.0/15 (RFC 2544 benchmarking range).
"""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcapgen import ACK, FIN, PSH, RST, SYN, Conn, PcapWriter, eth, ipv4, tcp  # noqa: E402

C, S = 0, 1  # sides


def tunneling(w):
    """Same sequence, different bytes: an inconsistent retransmission.
    c2s: "hello " [0,6), identical copy of it (rexmit), "world\n" [6,12),
    then "WORLD\n" at offset 6 (rexmit, inconsistent). First copy wins."""
    c = Conn(w, cli=("198.18.0.1", 40001))
    c.handshake()
    c.seg(C, PSH | ACK, b"hello ")
    c.seg(C, PSH | ACK, b"hello ", seq=c.rel(C, 0), advance=False)
    c.seg(C, PSH | ACK, b"world\n")
    c.seg(C, PSH | ACK, b"WORLD\n", seq=c.rel(C, 6), advance=False)
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"ok\n")
    c.seg(C, ACK)
    c.close()


def overlaps(w):
    """Overlaps at the tail of delivered data, at the head of a held
    out-of-order segment, and over both ends of a held segment. The later
    copy always carries different (lower-case) bytes in the overlap, so
    first-wins yields exactly "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"."""
    c = Conn(w, cli=("198.18.0.1", 40002))
    c.handshake()
    c.seg(C, PSH | ACK, b"0123456789", seq=c.rel(C, 0), advance=False)        # [0,10)
    c.seg(C, PSH | ACK, b"vwxyzABCDE", seq=c.rel(C, 5), advance=False)        # [5,15): 5 old
    c.seg(C, PSH | ACK, b"KLMNO", seq=c.rel(C, 20), advance=False)            # [20,25) held
    c.seg(C, PSH | ACK, b"UVW", seq=c.rel(C, 30), advance=False)              # [30,33) held
    c.seg(C, PSH | ACK, b"FGHIJkl", seq=c.rel(C, 15), advance=False)          # [15,22): 2 old
    c.seg(C, PSH | ACK, b"PQRSTuvwXYZ", seq=c.rel(C, 25), advance=False)      # [25,36): 3 old
    c.nxt[C] = c.rel(C, 36)
    c.seg(S, ACK)                                                             # acks 36
    c.close()


def keepalive(w):
    """A 0-byte and a 1-byte (garbage 0x00) keep-alive at next-1: neither is
    a retransmission, and the 0x00 must not replace the 'o' already there."""
    c = Conn(w, cli=("198.18.0.1", 40003))
    c.handshake()
    c.seg(C, PSH | ACK, b"hello")                                             # [0,5)
    c.seg(S, ACK)
    c.seg(C, ACK, seq=c.rel(C, 4), advance=False)                             # 0-byte keep-alive
    c.seg(S, ACK)
    c.seg(C, ACK, b"\x00", seq=c.rel(C, 4), advance=False)                    # 1-byte keep-alive
    c.seg(S, ACK)
    c.seg(C, PSH | ACK, b" world")                                            # [5,11)
    c.seg(S, ACK)
    c.close()


def midstream(w):
    """No handshake; the first packet is a response from port 80. The high
    port is the client; offset 0 is the first byte seen."""
    c = Conn(w, cli=("198.18.0.1", 40004), isn=(3000, 7000))
    c.seg(S, PSH | ACK, b"HTTP/1.1 200 OK\r\n\r\n")
    c.seg(C, ACK)
    c.seg(C, PSH | ACK, b"GET /b HTTP/1.1\r\n\r\n")
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"HTTP/1.1 404 Not Found\r\n\r\n")
    c.seg(C, ACK)


def simultaneous_open(w):
    """Both ends send a SYN without ACK, then each a SYN/ACK. The sender of
    the first SYN is the client. Then "ping"/"pong" and a normal close."""
    c = Conn(w, cli=("198.18.0.1", 40005), srv=("198.18.0.2", 5005), isn=(11000, 22000))
    c.isn = (11000, 22000)
    c.seg(C, SYN)
    c.seg(S, SYN)
    c.seg(C, SYN | ACK, seq=11000, advance=False)
    c.seg(S, SYN | ACK, seq=22000, advance=False)
    c.seg(C, PSH | ACK, b"ping")
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"pong")
    c.seg(C, ACK)
    c.close()


def simultaneous_close(w):
    """FINs cross: the server's FIN does not acknowledge the client's FIN.
    Both go FIN_WAIT_1 -> CLOSING -> TIME_WAIT."""
    c = Conn(w, cli=("198.18.0.1", 40006))
    c.handshake()
    c.seg(C, PSH | ACK, b"req")
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"resp")
    c.seg(C, ACK)
    c.seg(C, FIN | ACK)                                 # client FIN at offset 3
    c.seg(S, FIN | ACK, ack=c.rel(C, 3))                # crosses it: acks only the data
    c.seg(C, ACK)                                       # acks the server FIN
    c.seg(S, ACK)                                       # acks the client FIN


FRAG_DATA = (b"fragmented-tcp-payload-" * 5)[:100]


def ipv4_fragments(w):
    """A 100-byte data segment (120 bytes of TCP) in three IPv4 fragments of
    40 bytes each, sent last, first, middle."""
    c = Conn(w, cli=("198.18.0.1", 40007))
    c.handshake()
    (sip, sp), (dip, dp) = c.ep
    seg = tcp(sip, dip, sp, dp, c.nxt[C], c.nxt[S], PSH | ACK, FRAG_DATA)
    assert len(seg) == 120
    for off in (80, 0, 40):
        w.packet(eth(ipv4(sip, dip, 6, seg[off:off + 40], ident=4242, df=False,
                          frag_off=off, mf=off < 80)))
    c.nxt[C] = c.rel(C, 100)
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"got it\n")
    c.seg(C, ACK)
    c.close()


def seq_wrap(w):
    """Both ISNs just below 2^32. Client: three 10-byte segments, the middle
    one crossing the wrap, then an identical copy of it (one rexmit).
    Server: a 20-byte response starting at sequence 0xFFFFFFFF."""
    c = Conn(w, cli=("198.18.0.1", 40008), isn=(0xFFFFFFF0, 0xFFFFFFFE))
    c.handshake()
    c.seg(C, PSH | ACK, b"0123456789")                   # seq 0xFFFFFFF1
    c.seg(C, PSH | ACK, b"abcdefghij")                   # seq 0xFFFFFFFB, wraps inside
    c.seg(C, PSH | ACK, b"ABCDEFGHIJ")                   # seq 0x00000005
    c.seg(C, PSH | ACK, b"abcdefghij", seq=c.rel(C, 10), advance=False)
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"response-over-wrap\r\n")       # seq 0xFFFFFFFF
    c.seg(C, ACK)
    c.close()


def gap_acked(w):
    """Offsets [10,20) are never captured but the server acknowledges past
    them: a gap [10,20); the bytes after it, and later ones, are delivered."""
    c = Conn(w, cli=("198.18.0.1", 40009))
    c.handshake()
    c.seg(C, PSH | ACK, b"A" * 10)                        # [0,10)
    c.seg(C, PSH | ACK, b"C" * 10, seq=c.rel(C, 20))      # [20,30)
    c.seg(S, ACK)                                         # ack = offset 30
    c.seg(C, PSH | ACK, b"D" * 10)                        # [30,40)
    c.seg(S, ACK)
    c.close()


def vlan_collision(w):
    """The same 5-tuple on VLAN 10 and VLAN 20, packets interleaved: two
    flows. Different ISNs, so merging them would garble both streams."""
    a = Conn(w, cli=("198.18.0.1", 40010), isn=(1000, 5000), vlan=[10])
    b = Conn(w, cli=("198.18.0.1", 40010), isn=(800000, 900000), vlan=[20])
    for x in (a, b):
        x.isn = tuple(x.nxt)
    for side, flags in ((C, SYN), (S, SYN | ACK), (C, ACK)):
        a.seg(side, flags)
        b.seg(side, flags)
    a.seg(C, PSH | ACK, b"on vlan 10")
    b.seg(C, PSH | ACK, b"on vlan 20")
    a.seg(S, ACK)
    b.seg(S, ACK)
    a.close()
    b.close()


def rst_window(w):
    """Flow 1: the server's RST carries exactly the expected sequence number:
    accepted, both CLOSED. Flow 2: the RST's sequence is 2^30 beyond the
    client's window: ignored, the connection goes on and closes normally."""
    a = Conn(w, cli=("198.18.0.1", 40011))
    a.handshake()
    a.seg(C, PSH | ACK, b"req-a")
    a.seg(S, ACK)
    a.seg(S, RST | ACK)
    b = Conn(w, cli=("198.18.0.1", 40012))
    b.handshake()
    b.seg(C, PSH | ACK, b"req-b")
    b.seg(S, ACK)
    b.seg(S, RST | ACK, seq=(b.nxt[S] + 0x40000000) & 0xFFFFFFFF, advance=False)
    b.seg(C, PSH | ACK, b" more")
    b.seg(S, ACK)
    b.seg(S, PSH | ACK, b"resp-b")
    b.seg(C, ACK)
    b.close()


def port_reuse(w):
    """A connection closes; 100 ms later (inside TIME_WAIT) a new SYN with a
    new ISN reuses the 4-tuple: two flows."""
    a = Conn(w, cli=("198.18.0.1", 40013), isn=(1000, 5000))
    a.handshake()
    a.seg(C, PSH | ACK, b"first")
    a.seg(S, ACK)
    a.close()
    w.t += 0.1
    b = Conn(w, cli=("198.18.0.1", 40013), isn=(90000, 70000))
    b.handshake()
    b.seg(C, PSH | ACK, b"second")
    b.seg(S, ACK)
    b.seg(S, PSH | ACK, b"2nd-resp")
    b.seg(C, ACK)
    b.close()


SYN_FLOOD_N = 200000


def syn_flood(w):
    """200,000 SYNs from distinct (address, port) pairs, 10 us apart, to one
    server; nothing answers. With max_concurrency 10000, the half-open flows
    must be evicted. The TCP header only changes in the source port, so the
    checksum is patched incrementally to keep generation fast."""
    dst = "198.18.0.2"
    for i in range(SYN_FLOOD_N):
        src = "198.19.%d.%d" % (i // 60000, 1 + (i // 250) % 240)
        sport = 1024 + i % 60000
        t = tcp(src, dst, sport, 80, 1000 + i, 0, SYN, win=1024)
        w.packet(eth(ipv4(src, dst, 6, t, ident=i & 0xFFFF)), ts=1700000000.0 + i * 1e-5)


def malformed(w):
    """One valid connection with malformed packets of another 4-tuple
    between its packets. The valid flow must come out intact; the broken
    packets are dropped."""
    v = Conn(w, cli=("198.18.0.1", 40020))
    bad_src, dst = "198.18.0.66", "198.18.0.2"
    good_tcp = tcp(bad_src, dst, 41000, 80, 1, 0, SYN)
    rnd = random.Random(20240601)
    broken = [
        eth(ipv4(bad_src, dst, 6, good_tcp, ihl=4)),                              # IHL < 5
        eth(ipv4(bad_src, dst, 6, good_tcp, ihl=15)),                             # IHL beyond packet
        eth(ipv4(bad_src, dst, 6, tcp(bad_src, dst, 41001, 80, 1, 0, SYN, doff=3))),   # doff < 5
        eth(ipv4(bad_src, dst, 6, tcp(bad_src, dst, 41002, 80, 1, 0, SYN, doff=15))),  # doff > seg
        eth(ipv4(bad_src, dst, 6, good_tcp[:10])),                                # TCP header cut
        eth(ipv4(bad_src, dst, 6, good_tcp, total_len=10)),                       # total len < IHL
        eth(ipv4(bad_src, dst, 6, tcp(bad_src, dst, 41003, 80, 1, 0, SYN | RST))),  # SYN+RST
        eth(ipv4(bad_src, dst, 6, tcp(bad_src, dst, 41004, 80, 1, 0, 0))),       # no flags
        eth(b"\x65" + bytes(rnd.randrange(256) for _ in range(40))),              # v6 nibble in v4
        eth(bytes(rnd.randrange(256) for _ in range(46))),                        # garbage IPv4
        eth(bytes(rnd.randrange(256) for _ in range(46)), ethertype=0x86DD),      # garbage IPv6
        eth(b"\x60\x00\x00\x00\x00\x20\x06\x40" + b"\x00" * 10, ethertype=0x86DD),  # IPv6 hdr cut
        b"\x02\x00\x00\x00\x00\x02\x02\x00",                                      # 8-byte frame
        eth(ipv4(bad_src, dst, 6, b""), vlan=[1, 2, 3, 4, 5]),                    # 5 VLAN tags
    ]
    v.isn = tuple(v.nxt)
    steps = [(C, SYN, b""), (S, SYN | ACK, b""), (C, ACK, b""), (C, PSH | ACK, b"valid-data"),
             (S, ACK, b""), (S, PSH | ACK, b"valid-resp"), (C, ACK, b""),
             (C, FIN | ACK, b""), (S, ACK, b""), (S, FIN | ACK, b""), (C, ACK, b"")]
    for i, (side, flags, data) in enumerate(steps):
        v.seg(side, flags, data)
        if i < len(broken):
            w.packet(broken[i])
    for b in broken[len(steps):]:
        w.packet(b)
    # caplen 8 of a 60-byte frame (recorded as such in the pcap header)
    w.packet(eth(ipv4(bad_src, dst, 6, good_tcp)), caplen=8)
    # caplen 0
    w.packet(b"", wirelen=60)
    # total length beyond the frame in a complete record: a SYN claiming
    # 1000 bytes (dropped: no receiver accepts it, drop_ip_len_beyond_frame)
    w.packet(eth(ipv4(bad_src, dst, 6, tcp(bad_src, dst, 41005, 80, 1, 0, SYN), total_len=1000)))


def burst_bytes(off, n):
    """The client's stream in the reorder_burst cases: byte i is 'a' + i % 26."""
    return bytes(97 + (off + i) % 26 for i in range(n))


def reorder_burst_traffic(w, port, forged_at=None):
    """Linux TCP through a reordering path (issue 10, defect 1). c2s: 40
    in-order segments of 1000 bytes [0,40000), each acked; the segment at
    40000 is late: [41000,61000) arrive first as 20 segments and are held,
    the server repeating its ack of 40000; then a repacketized
    retransmission [40000,42000) fills the hole (1 rexmit: [41000,42000) is
    held) and the server acks 61000. Then duplicated copies of delivered
    bytes arrive: [30000,32000), [39000,40000), [45000,47000) (3 rexmits).
    All copies equal the originals unless forged_at is given: then one more
    copy [forged_at, forged_at+1000) with its middle byte changed (a 5th
    rexmit, inconsistent). The server answers "ok\n"; normal close.

    A script that reads every new byte keeps the ring small (the 16 KiB
    history, wrapped); the 21000 bytes that become readable at once make it
    grow, and the ring then holds [39616, 61000) (worked out in
    tests/unit/test_stream_buf.c): [30000,32000) is unverifiable,
    [39000,40000) is compared from 39616 on (unverifiable too, as not all of
    it could be compared), the rest is compared. A script that reads
    nothing keeps all 61000 bytes (below the 256K rcvbuf): all compared."""
    c = Conn(w, cli=("198.18.0.1", port))
    c.handshake()
    for off in range(0, 40000, 1000):
        c.seg(C, PSH | ACK, burst_bytes(off, 1000))
        c.seg(S, ACK)
    for off in range(41000, 61000, 1000):
        c.seg(C, PSH | ACK, burst_bytes(off, 1000), seq=c.rel(C, off), advance=False)
        c.seg(S, ACK)                                   # still acks 40000
    c.seg(C, PSH | ACK, burst_bytes(40000, 2000), seq=c.rel(C, 40000), advance=False)
    c.nxt[C] = c.rel(C, 61000)
    c.seg(S, ACK)                                       # acks 61000
    for off, n in ((30000, 2000), (39000, 1000), (45000, 2000)):
        c.seg(C, PSH | ACK, burst_bytes(off, n), seq=c.rel(C, off), advance=False)
    if forged_at is not None:
        data = bytearray(burst_bytes(forged_at, 1000))
        data[500] = ord("X")
        c.seg(C, PSH | ACK, bytes(data), seq=c.rel(C, forged_at), advance=False)
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"ok\n")
    c.seg(C, ACK)
    c.close()


def reorder_burst(w):
    """See reorder_burst_traffic: identical retransmissions only."""
    reorder_burst_traffic(w, 40030)


def reorder_burst_tunnel(w):
    """The same traffic plus a genuinely different copy of [50000,51000)
    (still held by both kinds of script): exactly one inconsistent rexmit."""
    reorder_burst_traffic(w, 40031, forged_at=50000)


def forged_length(w):
    """Issue 10, defect 3: a forged segment at the next sequence number whose
    IPv4 total length claims 10 bytes more than the frame holds, in a
    complete record (caplen == len: no capture cut). No receiver's IP layer
    accepts it, so it must be dropped (drop_ip_len_beyond_frame) and the
    genuine segment that follows is new data, not a retransmission.
    c2s: "hello " [0,6), forged "EVIL!!" at [6,12), genuine "world\n" [6,12).
    Expect "hello world\n", 0 rexmits, 0 inconsistent."""
    c = Conn(w, cli=("198.18.0.1", 40032))
    c.handshake()
    c.seg(C, PSH | ACK, b"hello ")
    (sip, sp), (dip, dp) = c.ep
    t = tcp(sip, dip, sp, dp, c.nxt[C], c.nxt[S], PSH | ACK, b"EVIL!!")
    w.packet(eth(ipv4(sip, dip, 6, t, ident=999, total_len=20 + len(t) + 10)))
    c.seg(C, PSH | ACK, b"world\n")
    c.seg(S, ACK)
    c.seg(S, PSH | ACK, b"ok\n")
    c.seg(C, ACK)
    c.close()


CASES = {f.__name__: f for f in (tunneling, overlaps, keepalive, midstream, simultaneous_open,
                                   simultaneous_close, ipv4_fragments, seq_wrap, gap_acked,
                                   vlan_collision, rst_window, port_reuse, syn_flood, malformed,
                                   reorder_burst, reorder_burst_tunnel, forged_length)}


def extra_inputs(outdir):
    """Inputs that are not well-formed capture files."""
    with open(os.path.join(outdir, "tunneling.pcap"), "rb") as f:
        good = f.read()
    # cut in the middle of the last packet's data
    with open(os.path.join(outdir, "truncated_file.pcap"), "wb") as f:
        f.write(good[:-7])
    # cut in the middle of a record header
    with open(os.path.join(outdir, "truncated_header.pcap"), "wb") as f:
        f.write(good[:24 + 16 + 54 + 8])  # file header, SYN record (54-byte frame), half a header
    with open(os.path.join(outdir, "not_pcap.pcap"), "wb") as f:
        f.write(b"this is not a capture file\n" * 40)
    with open(os.path.join(outdir, "empty_file.pcap"), "wb") as f:
        pass
    # a pcap header announcing an absurd snaplen and a packet claiming 4 GB
    with open(os.path.join(outdir, "huge_caplen.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack("<IIII", 1700000000, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"\0" * 64)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: cases.py OUTDIR [CASE...]")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    names = sys.argv[2:] or list(CASES)
    for n in names:
        w = PcapWriter(os.path.join(outdir, n + ".pcap"))
        CASES[n](w)
        w.close()
    if "tunneling" in names:
        extra_inputs(outdir)


if __name__ == "__main__":
    main()
