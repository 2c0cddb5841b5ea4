"""pcapgen.py - write classic pcap files of hand-built TCP/IP packets.

Only python3's struct: every header is built field by field and every IPv4
header and TCP checksum is correct unless a case asks for a broken one, so
a mismatch in a crafted test is about TCP logic, never about a checksum
policy. `Conn` keeps each side's next sequence number so cases read like the
hand-worked ladder diagrams they come from; any segment can override seq/ack
to craft retransmissions, overlaps and gaps.
"""
import socket
import struct

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
T0 = 1700000000.0  # first timestamp of every crafted capture
STEP = 0.001       # default spacing between packets


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class PcapWriter:
    """Classic microsecond pcap, little endian, snaplen 65535."""

    def __init__(self, path, linktype=1):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        self.us = int(T0 * 1e6)  # integer microseconds: no float drift

    @property
    def t(self):
        return self.us / 1e6

    @t.setter
    def t(self, value):
        self.us = int(round(value * 1e6))

    def packet(self, frame, ts=None, caplen=None, wirelen=None):
        if ts is not None:
            self.t = ts
        sec, usec = divmod(self.us, 1000000)
        self.us += int(STEP * 1e6)
        data = frame if caplen is None else frame[:caplen]
        self.f.write(struct.pack("<IIII", sec, usec, len(data), wirelen or len(frame)))
        self.f.write(data)

    def raw(self, b):
        self.f.write(b)

    def close(self):
        self.f.close()


def eth(payload, ethertype=0x0800, vlan=None):
    hdr = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    for v in (vlan or []):
        hdr += struct.pack("!HH", 0x8100, v)
    return hdr + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ident=1, df=True, frag_off=0, mf=False, ttl=64,
         ihl=5, total_len=None, bad_csum=False):
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off >> 3)
    tl = total_len if total_len is not None else 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tl, ident, flags, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = csum16(hdr) ^ (0xFFFF if bad_csum else 0)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", win=65535, doff=5,
        options=b"", bad_csum=False):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      doff << 4, flags, win, 0, 0) + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum16(pseudo + hdr + payload) ^ (0xFFFF if bad_csum else 0)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


class Conn:
    """One IPv4 TCP connection. Side 0 is the client, side 1 the server."""

    def __init__(self, w, cli=("198.18.0.1", 40000), srv=("198.18.0.2", 80),
                 isn=(1000, 5000), vlan=None):
        self.w = w
        self.ep = (cli, srv)
        self.nxt = [isn[0], isn[1]]
        self.vlan = vlan
        self.ident = [100, 200]

    def seg(self, side, flags, data=b"", seq=None, ack=None, ts=None, advance=True):
        """Send a segment from `side`; seq/ack default to the tracked values."""
        s = self.nxt[side] if seq is None else seq
        a = self.nxt[1 - side] if ack is None else ack
        if not flags & ACK and ack is None:
            a = 0
        (sip, sp), (dip, dp) = self.ep[side], self.ep[1 - side]
        t = tcp(sip, dip, sp, dp, s, a, flags, data)
        self.ident[side] += 1
        self.w.packet(eth(ipv4(sip, dip, 6, t, ident=self.ident[side]), vlan=self.vlan), ts=ts)
        if advance:
            end = (s + len(data) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & 0xFFFFFFFF
            if ((end - self.nxt[side]) & 0xFFFFFFFF) < 0x80000000:
                self.nxt[side] = end
        return s

    def rel(self, side, off):
        """Sequence number of stream offset `off` of `side` (offset 0 = ISN+1)."""
        return (self.isn[side] + 1 + off) & 0xFFFFFFFF

    def handshake(self):
        self.isn = (self.nxt[0], self.nxt[1])
        self.seg(0, SYN)
        self.seg(1, SYN | ACK)
        self.seg(0, ACK)

    def close(self):
        """Client closes first: client TIME_WAIT, server CLOSED."""
        self.seg(0, FIN | ACK)
        self.seg(1, ACK)
        self.seg(1, FIN | ACK)
        self.seg(0, ACK)
