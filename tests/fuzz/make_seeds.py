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


if __name__ == "__main__":
    main()
