#!/usr/bin/env python3
"""check_impair.py - judge mos-lua's runs over one impaired capture.

  check_impair.py TRUTH_DIR FLOWDUMP_DIR READ_STATS NOREAD_JSON NOREAD_STATS N

TRUTH_DIR holds xfer.py's srv-<port>.bin (what the server received from the
client at <port>) and cli-<port>.bin (what that client received). Requires:
every one of the N connections appears exactly once in flowdump's
flows.jsonl; each direction has no gap and its file is byte-identical to
what the receiving end got; no REXMIT_INCONSISTENT anywhere, neither in the
run that reads every new byte (flowdump: per-flow counts and --stats) nor in
the one that reads nothing (handler calls and --stats). Prints one line per
failure and the figures; exit 1 on any failure.
"""
import json
import os
import sys


def main():
    truth, dump, read_stats, noread_json, noread_stats, n = sys.argv[1:]
    n = int(n)
    fails = []
    flows = [json.loads(l) for l in open(os.path.join(dump, "flows.jsonl"))]
    by_port = {}
    for fl in flows:
        port = int(fl["client"].rsplit(":", 1)[1])
        by_port.setdefault(port, []).append(fl)
    ports = sorted(int(f[4:-4]) for f in os.listdir(truth) if f.startswith("srv-"))
    if len(ports) != n:
        fails.append("ground truth has %d connections, expected %d" % (len(ports), n))
    rexmits = 0
    checked = 0
    for port in ports:
        got = by_port.get(port, [])
        if len(got) != 1:
            fails.append("port %d: %d flows in flows.jsonl, expected 1" % (port, len(got)))
            continue
        fl = got[0]
        for d, tf in (("c2s", "srv-%d.bin" % port), ("s2c", "cli-%d.bin" % port)):
            rec = fl[d]
            want = open(os.path.join(truth, tf), "rb").read()
            have = b""
            if rec.get("file"):
                have = open(os.path.join(dump, rec["file"]), "rb").read()
            rexmits += rec.get("rexmit", 0)
            if rec.get("gaps"):
                fails.append("port %d %s: gaps %s" % (port, d, rec["gaps"]))
            if have != want:
                at = next((i for i in range(min(len(have), len(want))) if have[i] != want[i]), min(len(have), len(want)))
                fails.append("port %d %s: stream differs from what the receiver got (%d vs %d bytes, first difference at %d)"
                             % (port, d, len(have), len(want), at))
            if rec.get("rexmit_inconsistent", 0) != 0:
                fails.append("port %d %s: %d inconsistent retransmissions (reading)" % (port, d, rec["rexmit_inconsistent"]))
            checked += len(want)
    rs = json.load(open(read_stats))["counters"]
    ns = json.load(open(noread_stats))["counters"]
    nr = json.load(open(noread_json))
    for name, st in (("reading", rs), ("not reading", ns)):
        if st["reasm_rexmit_inconsistent"] != 0:
            fails.append("%s: reasm_rexmit_inconsistent = %d" % (name, st["reasm_rexmit_inconsistent"]))
    if nr["rexmit_inconsistent"] != 0:
        fails.append("not reading: %d REXMIT_INCONSISTENT handler calls" % nr["rexmit_inconsistent"])
    if rs["reasm_rexmit"] != ns["reasm_rexmit"]:
        fails.append("reasm_rexmit differs: %d reading, %d not" % (rs["reasm_rexmit"], ns["reasm_rexmit"]))
    for f in fails:
        print("  FAIL: " + f)
    print("  %d connections, %d bytes compared, %d retransmissions (%d unverifiable), %d out-of-order segments"
          % (len(ports), checked, rs["reasm_rexmit"], rs["reasm_rexmit_unverifiable"], rs["reasm_segments_ooo"]))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
