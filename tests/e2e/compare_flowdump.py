#!/usr/bin/env python3
"""compare_flowdump.py - check mos-lua's flowdump output against tshark.

Design: test_corpus.sh runs mos-lua once per corpus capture into
RUNS/<capture>/{out/flows.jsonl, rc, stderr}; this script then judges every
run. Ground truth is tshark's follow-stream output in
$MOS_SHARED_DIR/pcaps/expected/<capture>/ (see that README). Only stream
directions where tcpflow agreed with tshark (tcpflow.tsv verdict `same`) are
*required* to match: there two independent reassemblers agree, so a
difference is ours to explain. Other directions are printed as `info:`
lines with --info, never counted.

Matching a tshark stream to one of our flows: same unordered endpoint pair,
then time. tshark numbers streams by first packet, and so do we, but we may
split what tshark merges (VLAN in the key) or start a flow later (a dropped
first packet), so the rule is: a flow whose first_ts equals the stream's
first packet time; else the earliest flow that starts inside the stream's
lifetime; else the flow that was live when the stream started. tshark's
client is a guess when it saw no SYN (client_rule first-packet), so a
swapped orientation is accepted and directions are compared crosswise; with
a SYN seen, a swapped orientation is itself a checked item.

Every accepted difference must be listed in tests/KNOWN_DIFFERENCES.tsv
(see KNOWN_DIFFERENCES.md). A listed entry that no longer differs is
stale and counts as a FAILURE, so the file cannot rot.

Also checks each run: every frame counted by capinfos was read (pkts_in in
the --stats file), exit 0, or (for a capture listed with direction
`run`) mos-lua's documented exit status 1 for an unreadable input, with a
message; never a signal, a
timeout or a sanitizer report.

python3 stdlib only.
"""
import argparse
import hashlib
import ipaddress
import json
import os
import re
import sys

EMPTY_SHA = hashlib.sha256(b"").hexdigest()
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                          r"SUMMARY: UndefinedBehaviorSanitizer")
EXIT_RUNTIME = 1  # mos-lua --help: "1 runtime error (input unreadable, ...)"
TS_EPS = 2e-6  # our timestamps are printed with microsecond resolution


def parse_ep(s):
    """'1.2.3.4:80' or '[2001:db8::1]:80' -> (normalised ip, port)."""
    s = s.strip()
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    return (str(ipaddress.ip_address(host)), int(port))


def fmt_ep(ep):
    ip, port = ep
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def read_tsv(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    if not lines:
        return []
    head = lines[0].split("\t")
    return [dict(zip(head, l.split("\t"))) for l in lines[1:]]


def load_known(path):
    """Rows of capture, stream, direction, our_behaviour, reason."""
    known = []
    if not path or not os.path.exists(path):
        return known
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if cols[0] == "capture":
                continue  # header
            if len(cols) != 5 or not all(c.strip() for c in cols):
                raise SystemExit("%s:%d: need 5 non-empty tab-separated columns "
                                 "(capture, stream, direction, our_behaviour, reason)" % (path, n))
            known.append({"capture": cols[0], "stream": cols[1], "direction": cols[2],
                          "ours": cols[3], "reason": cols[4], "line": n, "used": False})
    return known


def find_known(known, capture, stream, direction, exact=False):
    """The entry excusing (capture, stream, direction). `*` in the file's
    stream or direction column matches any stream direction, but never the
    special directions `run` and `orientation`, which must be named."""
    for k in known:
        if k["capture"] != capture or k["stream"] not in ("*", str(stream)):
            continue
        if k["direction"] == direction or (not exact and k["direction"] == "*"):
            return k
    return None


def load_streams(expdir):
    streams = read_tsv(os.path.join(expdir, "streams.tsv"))
    first, last = {}, {}
    pk = os.path.join(expdir, "tcp_packets.tsv")
    if os.path.exists(pk):
        for row in read_tsv(pk):
            try:
                sid, t = int(row["stream"]), float(row["time_epoch"])
            except (KeyError, ValueError):
                continue
            first.setdefault(sid, t)  # file order, like ours
            last[sid] = max(last.get(sid, t), t)
    for s in streams:
        sid = int(s["stream"])
        s["id"] = sid
        s["c"] = parse_ep(s["client"])
        s["s"] = parse_ep(s["server"])
        s["t0"] = first.get(sid, 0.0)
        s["t1"] = last.get(sid, s["t0"])
    return streams


def load_verdicts(expdir):
    v = {}
    p = os.path.join(expdir, "tcpflow.tsv")
    if os.path.exists(p):
        for row in read_tsv(p):
            if row.get("dir") in ("c2s", "s2c") and row.get("stream", "").isdigit():
                v[(int(row["stream"]), row["dir"])] = row["verdict"]
    return v


def load_flows(outdir, problems):
    flows = []
    path = os.path.join(outdir, "flows.jsonl")
    if not os.path.exists(path):
        problems.append("no flows.jsonl written")
        return flows
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                fl = json.loads(line)
                fl["c"] = parse_ep(fl["client"])
                fl["s"] = parse_ep(fl["server"])
                fl["first_ts"] = float(fl["first_ts"])
                fl["last_ts"] = float(fl.get("last_ts", fl["first_ts"]))
                for d in ("c2s", "s2c"):
                    fl[d]["bytes"] = int(fl[d]["bytes"])
            except (ValueError, KeyError, TypeError) as e:
                problems.append("flows.jsonl:%d: malformed flow record (%s)" % (n, e))
                continue
            fl["n"] = n
            flows.append(fl)
    return flows


def dir_bytes(outdir, fl, d):
    """Our reassembled bytes for one direction, or raise ValueError."""
    info = fl[d]
    name = info.get("file")
    if not name:
        if info["bytes"] != 0:
            raise ValueError("%s has %d bytes but no file" % (d, info["bytes"]))
        return b""
    p = os.path.join(outdir, name)
    if not os.path.exists(p):
        if info["bytes"] == 0:
            return b""
        raise ValueError("%s file %s missing" % (d, name))
    with open(p, "rb") as f:
        data = f.read()
    if len(data) != info["bytes"]:
        raise ValueError("%s file %s has %d bytes, record says %d" % (d, name, len(data), info["bytes"]))
    return data


def tshark_bytes(expdir, sid, d):
    p = os.path.join(expdir, "streams", "%d.%s.bin" % (sid, d))
    if os.path.exists(p):
        with open(p, "rb") as f:
            return f.read()
    return b""


def tshark_gaps(expdir, sid, d):
    p = os.path.join(expdir, "streams", "%d.%s.gaps" % (sid, d))
    gaps = []
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    gaps.append((int(parts[0]), int(parts[1])))
    return gaps


def pair_key(a, b):
    return tuple(sorted((a, b)))


def match_flow(st, cands, used):
    t0, t1 = st["t0"], st["t1"]
    exact = [f for f in cands if abs(f["first_ts"] - t0) <= TS_EPS]
    exact.sort(key=lambda f: (f["n"] in used, f["n"]))
    if exact:
        return exact[0]
    inside = [f for f in cands if t0 < f["first_ts"] <= t1 + TS_EPS]
    inside.sort(key=lambda f: (f["n"] in used, f["first_ts"], f["n"]))
    if inside:
        return inside[0]
    live = [f for f in cands if f["first_ts"] <= t0 <= f["last_ts"] + TS_EPS]
    live.sort(key=lambda f: (-f["first_ts"], f["n"]))
    if live:
        return live[0]
    return None


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n if len(a) != len(b) else -1


class Tally:
    def __init__(self):
        self.compared = self.equal = self.known = self.failed = 0
        self.runs_ok = self.runs_known = self.runs_failed = 0
        self.orient_ok = self.orient_known = self.orient_failed = 0
        self.stale = 0
        self.failures = []


def read_pkts_in(rundir):
    """pkts_in from the run's --stats file, or None."""
    try:
        with open(os.path.join(rundir, "stats.json")) as f:
            st = json.load(f)
        return int(st["counters"]["pkts_in"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def judge_capture(name, pcaps, runs, known, tally, info, want_pkts):
    expdir = os.path.join(pcaps, "expected", name)
    rundir = os.path.join(runs, name)
    outdir = os.path.join(rundir, "out")

    def fail(msg):
        tally.failures.append("%s: %s" % (name, msg))
        print("FAIL %s: %s" % (name, msg))

    # --- the run itself
    try:
        with open(os.path.join(rundir, "rc")) as f:
            rc = int(f.read().strip())
    except (OSError, ValueError):
        fail("no exit code recorded (mos-lua not run?)")
        tally.runs_failed += 1
        return
    try:
        with open(os.path.join(rundir, "stderr"), encoding="utf-8", errors="replace") as f:
            err = f.read()
    except OSError:
        err = ""
    if SANITIZER_RE.search(err):
        m = SANITIZER_RE.search(err)
        line = err[m.start():].splitlines()[0]
        fail("sanitizer report: %s" % line)
        tally.runs_failed += 1
        return
    krun = find_known(known, name, "*", "run", exact=True)
    if rc != 0:
        clean = rc == EXIT_RUNTIME and err.strip() != ""
        msg = err.strip().splitlines()[-1] if err.strip() else "(no message)"
        if krun and clean:
            krun["used"] = True
            tally.runs_known += 1
            print("known %s: exit %d (%s): %s" % (name, rc, msg, krun["reason"]))
        else:
            fail("exit %d%s: %s" % (rc, "" if clean else " (not the documented clean error 1 with a message)", msg))
            tally.runs_failed += 1
        return  # nothing to compare after a failed run
    # Every frame must be read: an input error that ends the run early must
    # not pass for a clean end of file (capinfos counted want_pkts frames).
    got_pkts = read_pkts_in(rundir)
    if want_pkts is not None and got_pkts != want_pkts:
        # never excusable: an unreadable input must exit 1 with a message
        fail("read %s of the %d frames and exited 0 (an input error reported as success?)"
             % (got_pkts, want_pkts))
        tally.runs_failed += 1
    else:
        tally.runs_ok += 1

    problems = []
    flows = load_flows(outdir, problems)
    for p in problems:
        fail(p)
        tally.runs_failed += 1
    if problems and not flows:
        return
    streams = load_streams(expdir) if os.path.isdir(expdir) else []
    verdicts = load_verdicts(expdir) if os.path.isdir(expdir) else {}

    by_pair = {}
    for fl in flows:
        by_pair.setdefault(pair_key(fl["c"], fl["s"]), []).append(fl)
    used = set()

    for st in streams:
        sid = st["id"]
        dirs_required = [d for d in ("c2s", "s2c") if verdicts.get((sid, d)) == "same"]
        fl = match_flow(st, by_pair.get(pair_key(st["c"], st["s"]), []), used)
        if fl is None:
            for d in dirs_required:
                tally.compared += 1
                item_failed_or_known(name, sid, d, "no matching flow for %s -> %s at %.6f"
                                     % (st["client"], st["server"], st["t0"]), known, tally, fail)
            if not dirs_required and info:
                print("info %s: stream %d (%s -> %s): no matching flow" % (name, sid, st["client"], st["server"]))
            continue
        used.add(fl["n"])
        swapped = fl["c"] != st["c"]
        if swapped and st.get("client_rule") in ("syn", "synack"):
            what = ("orientation: we say client %s, tshark (rule %s) says %s"
                    % (fmt_ep(fl["c"]), st["client_rule"], st["client"]))
            k = find_known(known, name, sid, "orientation", exact=True)
            if k:
                k["used"] = True
                tally.orient_known += 1
                print("known %s stream %d %s: %s" % (name, sid, what, k["reason"]))
            else:
                tally.orient_failed += 1
                fail("stream %d %s" % (sid, what))
        elif st.get("client_rule") in ("syn", "synack"):
            tally.orient_ok += 1
        for d in ("c2s", "s2c"):
            ours_d = d if not swapped else ("s2c" if d == "c2s" else "c2s")
            want_sha = st.get(d + "_sha256", EMPTY_SHA)
            try:
                data = dir_bytes(outdir, fl, ours_d)
            except ValueError as e:
                if d in dirs_required:
                    tally.compared += 1
                    item_failed_or_known(name, sid, d, str(e), known, tally, fail)
                continue
            got_sha = hashlib.sha256(data).hexdigest()
            required = d in dirs_required
            if got_sha == want_sha:
                if required:
                    tally.compared += 1
                    tally.equal += 1  # an entry for it stays unused: stale
                continue
            want = tshark_bytes(expdir, sid, d)
            off = first_diff(data, want)
            detail = ("flow line %d (%s -> %s%s, %s) %s: ours %d bytes gaps %s, tshark %d bytes gaps %s, "
                      "first difference at offset %d"
                      % (fl["n"], fl["client"], fl["server"],
                         " vlan %s" % fl.get("vlan") if fl.get("vlan") else "",
                         "swapped" if swapped else "same orientation", ours_d, len(data),
                         fl[ours_d].get("gaps", []), len(want), tshark_gaps(expdir, sid, d), off))
            if required:
                tally.compared += 1
                item_failed_or_known(name, sid, d, detail, known, tally, fail)
            elif info:
                print("info %s stream %d %s (tcpflow verdict %s): %s"
                      % (name, sid, d, verdicts.get((sid, d), "-"), detail))
    if info:
        for fl in flows:
            if fl["n"] not in used:
                print("info %s: flow line %d %s -> %s vlan %s matches no tshark stream (c2s %d, s2c %d bytes)"
                      % (name, fl["n"], fl["client"], fl["server"], fl.get("vlan"),
                         fl["c2s"]["bytes"], fl["s2c"]["bytes"]))


def item_failed_or_known(name, sid, d, detail, known, tally, fail):
    k = find_known(known, name, sid, d)
    if k:
        k["used"] = True
        tally.known += 1
        print("known %s stream %d %s: %s -- %s" % (name, sid, d, k["reason"], detail))
    else:
        tally.failed += 1
        fail("stream %d %s differs: %s" % (sid, d, detail))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcaps", required=True, help="the corpus directory (with INDEX.tsv, expected/)")
    ap.add_argument("--runs", required=True, help="RUNS dir: RUNS/<capture>/{rc,stderr,out/}")
    ap.add_argument("--known", help="KNOWN_DIFFERENCES.tsv")
    ap.add_argument("--info", action="store_true", help="also print differences where tcpflow and tshark disagree")
    ap.add_argument("captures", nargs="*", help="only these captures (default: all of INDEX.tsv)")
    a = ap.parse_args()

    rows = read_tsv(os.path.join(a.pcaps, "INDEX.tsv"))
    index = [r["name"] for r in rows]
    packets = {r["name"]: int(r["packets"]) for r in rows if r.get("packets", "").isdigit()}
    names = a.captures or index
    known = load_known(a.known)
    tally = Tally()
    for name in names:
        judge_capture(name, a.pcaps, a.runs, known, tally, a.info, packets.get(name))

    for k in known:
        if k["capture"] in names and not k["used"]:
            tally.stale += 1
            msg = ("%s:%d: stale known difference (now matches or not compared): %s stream %s %s"
                   % (os.path.basename(a.known), k["line"], k["capture"], k["stream"], k["direction"]))
            tally.failures.append(msg)
            print("FAIL " + msg)
        if k["capture"] not in index:
            print("warning: %s:%d names unknown capture %s" % (os.path.basename(a.known), k["line"], k["capture"]))

    print("corpus: %d captures run (%d ok, %d known errors, %d failed)"
          % (len(names), tally.runs_ok, tally.runs_known, tally.runs_failed))
    print("corpus: %d orientations checked, %d known differences, %d failed"
          % (tally.orient_ok + tally.orient_known + tally.orient_failed, tally.orient_known, tally.orient_failed))
    print("corpus: %d directions compared, %d equal, %d known differences, %d failed"
          % (tally.compared, tally.equal, tally.known, tally.failed))
    if tally.stale:
        print("corpus: %d stale known differences (counted as failures)" % tally.stale)
    passed = tally.runs_ok + tally.runs_known + tally.orient_ok + tally.orient_known + tally.equal + tally.known
    failed = tally.runs_failed + tally.orient_failed + tally.failed + tally.stale
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
