#!/usr/bin/env python3
"""make_seeds.py - build the fuzzers' seed corpora from small corpus captures.

usage: make_seeds.py SHARED_DIR OUT_DIR
Writes OUT_DIR/pcap/ (the capture files as they are, pcap and pcapng) and
OUT_DIR/engine/ (each classic pcap converted to the engine target's format:
a mode byte picking the file's link type, then per frame u16le length, u8
clock step, bytes; see fuzz_harness.h). Only small files are used: the
fuzzers mutate them, and short inputs run fast.
"""
import os
import shutil
import struct
import sys

# must match FUZZ_LINKTYPES in fuzz_harness.h
LINKTYPES = [1, 113, 276, 12, 14, 101, 228, 229, 0, 108]
MAX_SIZE = 7000


def frames(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 24:
        return None, []
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []  # pcapng: only a pcap seed
    nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", buf[20:24])[0] & 0xFFFF
    out, pos, last = [], 24, None
    while pos + 16 <= len(buf):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", buf[pos:pos + 16])
        pos += 16
        data = buf[pos:pos + incl]
        pos += incl
        ns = sec * 10**9 + (frac if nsec else frac * 1000)
        step = 0 if last is None else max(0, ns - last) // 10**6
        step = step if step < 200 else min(255, 200 + step // 1000)
        last = ns
        out.append((step, data[:65535]))
    return linktype, out


def main():
    shared, out = sys.argv[1], sys.argv[2]
    pcaps = os.path.join(shared, "pcaps")
    os.makedirs(os.path.join(out, "pcap"), exist_ok=True)
    os.makedirs(os.path.join(out, "engine"), exist_ok=True)
    for name in sorted(os.listdir(pcaps)):
        p = os.path.join(pcaps, name)
        if not os.path.isfile(p) or not name.endswith((".pcap", ".pcapng")):
            continue
        if os.path.getsize(p) > MAX_SIZE:
            continue
        shutil.copy(p, os.path.join(out, "pcap", name))
        lt, fr = frames(p)
        if lt not in LINKTYPES or not fr:
            continue
        mode = LINKTYPES.index(lt)
        blob = bytearray([mode])
        for step, data in fr:
            blob += struct.pack("<HB", len(data), step) + data
        with open(os.path.join(out, "engine", name + ".bin"), "wb") as f:
            f.write(blob)
        if lt == 1 and name.startswith("zeek-tcp-option-sack"):
            with open(os.path.join(out, "pcap", "mixed-interfaces.pcapng"), "wb") as f:
                f.write(pcapng_mixed([d for _, d in fr]))


def pcapng_mixed(frames_eth):
    """A little-endian pcapng with an Ethernet (ns resolution) and a BSD NULL
    interface, EPB, SPB, obsolete PB and a statistics block: the shape that
    libpcap refuses and io_pcap's own reader handles."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + b"\0" * 4)
    out += block(1, struct.pack("<HHI", 0, 0, 65535) + b"\0" * 4)
    for k, data in enumerate(frames_eth[:6]):
        ts = 1700000000 * 10**9 + k * 1000
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)
        null = struct.pack("<I", 2) + data[14:]  # AF_INET in host order, IP after
        out += block(6, struct.pack("<IIIII", 1, 0, k, len(null), len(null)) + null)
    if frames_eth:
        out += block(3, struct.pack("<I", len(frames_eth[0])) + frames_eth[0])
        out += block(2, struct.pack("<HHIIII", 1, 0, 0, 5, 4, 4) + b"\2\0\0\0")
    out += block(5, struct.pack("<III", 1, 0, 0))
    return out


if __name__ == "__main__":
    main()
