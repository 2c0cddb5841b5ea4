#!/usr/bin/env python3
"""impair.py - a user-space impairing bridge between two interfaces.

  impair.py IF_A IF_B PCAP_A PCAP_B SEED PROFILE

Forwards every Ethernet frame received on IF_A out of IF_B and back, through
AF_PACKET sockets (the kernel here has no netem). TCP segments carrying
payload are impaired, per direction, from a random generator seeded with
SEED (so the decisions are the same on every run; only the kernel's timing
varies):

  drop       the segment is not forwarded
  reorder    the segment is held for 2-12 ms, so later ones overtake it
  duplicate  a second copy follows 0-8 ms later
  split      the payload is cut into 2-3 segments (seq, lengths, IPv4 id and
             both checksums recomputed; FIN and PSH stay on the last piece),
             whose order may itself be swapped

PROFILE picks the rates: reorder (about 25% of segments reordered), or mix
(loss, reordering, duplication and splitting together). Anything else (ARP,
handshakes, pure ACKs) passes untouched and in order.

PCAP_A / PCAP_B record what crossed the link on each side, as a tap there
would: every frame received from that interface and every frame sent out of
it, stamped when it was handled. They are complete by construction (no
capture buffer to overflow). SIGTERM or SIGINT flushes them and exits.
A line of figures goes to stderr at exit.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

PROFILES = {
    #           drop   reorder dup    split
    "reorder": (0.0, 0.25, 0.0, 0.0),
    "mix": (0.03, 0.15, 0.05, 0.20),
}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def write(self, frame):
        t = time.time_ns() // 1000
        self.f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def tcp_parts(frame):
    """(eth+ip header, tcp header, payload, ihl) of an IPv4 TCP frame, or None."""
    if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    if ip[0] >> 4 != 4 or ip[9] != 6 or ihl < 20 or tot > len(ip) or tot < ihl + 20:
        return None
    if struct.unpack("!H", ip[6:8])[0] & 0x3FFF:  # fragment
        return None
    tcp = ip[ihl:tot]
    doff = (tcp[12] >> 4) * 4
    if doff < 20 or doff > len(tcp):
        return None
    return frame[: 14 + ihl], tcp[:doff], tcp[doff:], ihl


def build(l23, tcph, payload, seq_add, flags, ip_id):
    """A frame with header copies l23/tcph carrying payload at seq + seq_add."""
    ihl = len(l23) - 14
    ip = bytearray(l23[14:])
    struct.pack_into("!H", ip, 2, ihl + len(tcph) + len(payload))
    struct.pack_into("!H", ip, 4, ip_id & 0xFFFF)
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, csum(bytes(ip)))
    tcp = bytearray(tcph)
    seq = struct.unpack("!I", tcp[4:8])[0]
    struct.pack_into("!I", tcp, 4, (seq + seq_add) & 0xFFFFFFFF)
    tcp[13] = flags
    struct.pack_into("!H", tcp, 16, 0)
    seg = bytes(tcp) + payload
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(seg))
    struct.pack_into("!H", tcp, 16, csum(bytes(pseudo) + seg))
    return l23[:14] + bytes(ip) + bytes(tcp) + payload


class Direction:
    def __init__(self, seed, profile):
        self.rng = random.Random(seed)
        self.p_drop, self.p_reorder, self.p_dup, self.p_split = PROFILES[profile]
        self.stats = dict(frames=0, data=0, dropped=0, reordered=0, duplicated=0, split=0)

    def impair(self, frame, now):
        """[(release time, frame)] to send for a frame received at now."""
        self.stats["frames"] += 1
        parts = tcp_parts(frame)
        if parts is None or not parts[2]:
            return [(now, frame)]
        self.stats["data"] += 1
        rng = self.rng
        # Draw every decision each time, so one rate does not shift the others.
        r_drop, r_reorder, r_dup, r_split = rng.random(), rng.random(), rng.random(), rng.random()
        delay = rng.uniform(0.002, 0.012)
        dup_delay = rng.uniform(0.0, 0.008)
        n_pieces = rng.choice((2, 2, 3))
        cuts_r = [rng.random() for _ in range(2)]
        swap = rng.random() < 0.5
        if r_drop < self.p_drop:
            self.stats["dropped"] += 1
            return []
        frames = [frame]
        l23, tcph, payload, _ = parts
        if r_split < self.p_split and len(payload) >= 3:
            self.stats["split"] += 1
            cuts = sorted({1 + int(c * (len(payload) - 1)) for c in cuts_r[: n_pieces - 1]})
            bounds = [0] + cuts + [len(payload)]
            flags = tcph[13]
            ip_id = struct.unpack("!H", l23[18:20])[0]
            frames = []
            for i in range(len(bounds) - 1):
                last = i == len(bounds) - 2
                f = flags if last else flags & ~0x09  # FIN, PSH only on the last piece
                frames.append(build(l23, tcph, payload[bounds[i] : bounds[i + 1]], bounds[i], f, ip_id + i))
            if swap:
                frames[0], frames[1] = frames[1], frames[0]
        t = now
        if r_reorder < self.p_reorder:
            self.stats["reordered"] += 1
            t = now + delay
        out = [(t, f) for f in frames]
        if r_dup < self.p_dup:
            self.stats["duplicated"] += 1
            out.append((t + dup_delay, frames[-1]))
        return out


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    if_a, if_b, pcap_a, pcap_b, seed, profile = sys.argv[1:]
    seed = int(seed)
    if profile not in PROFILES:
        sys.exit("impair.py: unknown profile %s" % profile)
    socks = {}
    for name in (if_a, if_b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((name, 0))
        s.setblocking(False)
        socks[name] = s
    other = {if_a: if_b, if_b: if_a}
    caps = {if_a: Pcap(pcap_a), if_b: Pcap(pcap_b)}
    dirs = {if_a: Direction(seed * 2, profile), if_b: Direction(seed * 2 + 1, profile)}
    held = []  # heap of (release time, order, out interface, frame)
    order = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    by_fd = {s.fileno(): n for n, s in socks.items()}
    send_errors = 0

    def send(out_if, frame):
        nonlocal send_errors
        try:
            socks[out_if].send(frame)
        except OSError:
            send_errors += 1  # the link dropped it: so does the tap
            return
        caps[out_if].write(frame)

    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, out_if, frame = heapq.heappop(held)
            send(out_if, frame)
        timeout = 0.05 if not held else max(0.0, held[0][0] - now)
        try:
            ready, _, _ = select.select(list(by_fd), [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            in_if = by_fd[fd]
            for _ in range(64):
                try:
                    frame, addr = socks[in_if].recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                caps[in_if].write(frame)
                now = time.monotonic()
                for t, f in dirs[in_if].impair(frame, now):
                    if t <= now and not held:
                        send(other[in_if], f)
                    else:
                        order += 1
                        heapq.heappush(held, (t, order, other[in_if], f))
    for _, _, out_if, frame in sorted(held):
        send(out_if, frame)
    for c in caps.values():
        c.close()
    a, b = dirs[if_a].stats, dirs[if_b].stats
    sys.stderr.write("impair: %s->%s %s; %s->%s %s; send errors %d\n" % (if_a, if_b, a, if_b, if_a, b, send_errors))


if __name__ == "__main__":
    main()
