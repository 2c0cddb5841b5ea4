#!/usr/bin/env python3
"""check_expect.py - judge one mos-lua run against a hand-worked expectation.

Usage: check_expect.py EXPECT.json RUNDIR
RUNDIR holds rc, stderr, rss_kb (optional), stats.json (optional) and
out/flows.jsonl. Prints one PASS/FAIL line (plus the reasons) and exits 0/1.

Expectation keys (all optional except where a case needs them):
  exit              0 (default), "clean-error" or "zero-or-clean-error".
                    A clean error is mos-lua's documented exit status for an
                    unreadable input (1, see `mos-lua --help`) with a message
                    on stderr; a signal, a timeout or a sanitizer report is
                    never clean.
  flows             list of partial flow records, compared in order of first
                    packet (or, with exact_flow_count false, each matched by
                    client/server/vlan among any extra flows). Per direction:
                    bytes, content (a string, one character per byte),
                    content_sha256, gaps, rexmit, rexmit_inconsistent.
  exact_flow_count  default true: no flows beyond those listed.
  flow_count        the number of records in flows.jsonl.
  stats_min / stats_eq / stats_max
                    {"counter[+counter...]": N}: the sum of these counters
                    in the --stats JSON is >= / == / <= N.
  max_rss_kb        peak RSS bound, from /usr/bin/time -f %M, multiplied by
                    $MOS_E2E_RSS_SCALE (test_crafted.sh sets it for
                    sanitizer builds, whose shadow memory is not ours).
  script, args      read by test_crafted.sh: the script under scripts/
                    (default flowdump.lua) and extra mos-lua options.
"""
import hashlib
import json
import os
import re
import sys

EXIT_RUNTIME = 1  # mos-lua --help: "1 runtime error (input unreadable, ...)"
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                          r"SUMMARY: UndefinedBehaviorSanitizer")
FLOW_KEYS = ("client", "server", "handshake", "client_state", "server_state")
DIR_KEYS = ("bytes", "gaps", "rexmit", "rexmit_inconsistent")


def counters(stats):
    """name -> value. The stats file may be flat, hold a totals object, or
    hold one object per core; per-core values are summed."""
    found = {}

    def walk(o, depth):
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    found.setdefault(k, []).append((depth, v))
                else:
                    walk(v, depth + 1)
        elif isinstance(o, list):
            for v in o:
                walk(v, depth + 1)

    for key in ("counters", "total", "totals", "sum"):
        if isinstance(stats, dict) and isinstance(stats.get(key), dict):
            stats = stats[key]
            break
    walk(stats, 0)
    out = {}
    for k, vals in found.items():
        top = min(d for d, _ in vals)
        out[k] = sum(v for d, v in vals if d == top)
    return out


def read(path, default=None, binary=False):
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except OSError:
        return default


def check_dir(errs, where, want, got, outdir):
    for k in DIR_KEYS:
        if k in want:
            g = got.get(k, [] if k == "gaps" else None)
            if k == "gaps":
                g = [list(x) for x in (g or [])]
            if g != want[k]:
                errs.append("%s.%s: got %r, want %r" % (where, k, g, want[k]))
    if "content" in want or "content_sha256" in want:
        name = got.get("file")
        data = read(os.path.join(outdir, name), b"", binary=True) if name else b""
        if "content" in want and data != want["content"].encode("latin-1"):
            errs.append("%s content: got %r, want %r" % (where, data[:200], want["content"][:200]))
        if "content_sha256" in want and hashlib.sha256(data).hexdigest() != want["content_sha256"]:
            errs.append("%s content sha256 differs (%d bytes)" % (where, len(data)))


def check_flow(errs, idx, want, got, outdir):
    where = "flow %d (%s -> %s)" % (idx, got.get("client"), got.get("server"))
    for k in FLOW_KEYS:
        if k in want and got.get(k) != want[k]:
            errs.append("%s: %s is %r, want %r" % (where, k, got.get(k), want[k]))
    if "vlan" in want and (got.get("vlan") or []) != want["vlan"]:
        errs.append("%s: vlan is %r, want %r" % (where, got.get("vlan"), want["vlan"]))
    for d in ("c2s", "s2c"):
        if d in want:
            check_dir(errs, "%s %s" % (where, d), want[d], got.get(d) or {}, outdir)


def main():
    exp_path, rundir = sys.argv[1], sys.argv[2]
    case = os.path.basename(exp_path).rsplit(".", 1)[0]
    with open(exp_path) as f:
        exp = json.load(f)
    errs = []
    rc = int((read(os.path.join(rundir, "rc"), "-1") or "-1").strip())
    err = read(os.path.join(rundir, "stderr"), "") or ""
    m = SANITIZER_RE.search(err)
    if m:
        errs.append("sanitizer report: " + err[m.start():].splitlines()[0])
    want_exit = exp.get("exit", 0)
    clean_error = rc == EXIT_RUNTIME and err.strip() != ""
    if want_exit == 0 and rc != 0:
        errs.append("exit %d, want 0: %s" % (rc, err.strip()[-300:]))
    elif want_exit == "clean-error" and not clean_error:
        errs.append("exit %d, want a clean error (exit %d with a message)" % (rc, EXIT_RUNTIME))
    elif want_exit == "zero-or-clean-error" and rc != 0 and not clean_error:
        errs.append("exit %d, want 0 or a clean error (exit %d with a message)" % (rc, EXIT_RUNTIME))

    outdir = os.path.join(rundir, "out")
    flows = []
    if rc == 0 and ("flows" in exp or "flow_count" in exp):
        text = read(os.path.join(outdir, "flows.jsonl"))
        if text is None:
            errs.append("no flows.jsonl")
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        flows.append(json.loads(line))
                    except ValueError as e:
                        errs.append("flows.jsonl:%d: bad JSON (%s)" % (n, e))
        if "flow_count" in exp and len(flows) != exp["flow_count"]:
            errs.append("%d flows, want %d" % (len(flows), exp["flow_count"]))
        want_flows = exp.get("flows", [])
        if exp.get("exact_flow_count", True) and "flows" in exp:
            if len(flows) != len(want_flows):
                errs.append("%d flows, want %d: %s" % (len(flows), len(want_flows),
                            [(f.get("client"), f.get("server"), f.get("vlan")) for f in flows][:10]))
            for i, (w, g) in enumerate(zip(want_flows, flows)):
                check_flow(errs, i, w, g, outdir)
        else:
            for i, w in enumerate(want_flows):
                cands = [g for g in flows if g.get("client") == w.get("client")
                         and g.get("server") == w.get("server")
                         and (g.get("vlan") or []) == w.get("vlan", g.get("vlan") or [])]
                if not cands:
                    errs.append("no flow %s -> %s" % (w.get("client"), w.get("server")))
                else:
                    check_flow(errs, i, w, cands[0], outdir)

    if "stats_min" in exp or "stats_eq" in exp or "stats_max" in exp:
        text = read(os.path.join(rundir, "stats.json"))
        try:
            ctr = counters(json.loads(text)) if text else None
        except ValueError as e:
            ctr = None
            errs.append("stats.json is not JSON: %s" % e)
        if ctr is None:
            errs.append("no stats written")
        else:
            for op, table in (("min", exp.get("stats_min", {})), ("eq", exp.get("stats_eq", {})),
                              ("max", exp.get("stats_max", {}))):
                for names, n in table.items():
                    parts = names.split("+")
                    missing = [p for p in parts if p not in ctr]
                    if missing:
                        errs.append("stats: no counter %s" % ",".join(missing))
                        continue
                    v = sum(ctr[p] for p in parts)
                    if (op == "min" and v < n) or (op == "eq" and v != n) or (op == "max" and v > n):
                        errs.append("stats: %s = %d, want %s %d"
                                    % (names, v, {"min": ">=", "eq": "==", "max": "<="}[op], n))

    if "max_rss_kb" in exp:
        rss = read(os.path.join(rundir, "rss_kb"))
        bound = int(exp["max_rss_kb"] * float(os.environ.get("MOS_E2E_RSS_SCALE", "1")))
        try:
            kb = int(rss.strip().splitlines()[-1])
            print("%s: peak RSS %d KB (bound %d KB)" % (case, kb, bound))
            if kb > bound:
                errs.append("peak RSS %d KB > %d KB" % (kb, bound))
        except (AttributeError, ValueError, IndexError):
            errs.append("peak RSS not measured (is /usr/bin/time installed?)")

    if errs:
        print("FAIL %s" % case)
        for e in errs:
            print("    " + e)
        return 1
    print("PASS %s" % case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
