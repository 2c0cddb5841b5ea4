#!/usr/bin/env python3
"""check_dispatch_counts.py RUNS - judge runs of dispatch_count.lua.

RUNS holds one directory per run with: name (a label), rc (mos-lua's exit
status), stderr, stats.json (--stats) and calls.json (the script's handler
call counts, "EVENT@HOOK"). Each event's calls at every hook must equal its
ev_* counter; TCP_STATE_CHANGE's SND and RCV calls add up to
ev_tcp_state_change; explicit UDE raises equal ev_ude. A run refused as
input (exit 1, "not a readable pcap" / "input error") is compared for what
was read if the script got to run. Prints failures and the totals; exit 1
on any disagreement, or when the runs raised some event nowhere (with
require_all, the default; pass --any to allow it).
"""
import json, os, sys
runs = sys.argv[1]
require_all = "--any" not in sys.argv[2:]
EVENTS = ["PKT_IN", "CONN_START", "CONN_NEW_DATA", "CONN_END", "REXMIT", "REXMIT_INCONSISTENT",
          "GAP", "ORPHAN", "ERROR"]
ok = fail = rejected = 0
totals = {}
for d in sorted(os.listdir(runs), key=int):
    r = os.path.join(runs, d)
    name = open(os.path.join(r, "name")).read().strip()
    rc = int(open(os.path.join(r, "rc")).read())
    err = open(os.path.join(r, "stderr"), errors="replace").read()
    errs = []
    if "Sanitizer" in err or "runtime error" in err:
        errs.append("sanitizer report: " + err[:300])
    refused = rc == 1 and ("not a readable pcap" in err or "input error" in err)
    have = os.path.exists(os.path.join(r, "calls.json"))
    if rc != 0 and not refused:
        errs.append("exit %d: %s" % (rc, err[:300]))
    elif not have:
        if refused:
            rejected += 1  # the crafted malformed files: refused before any event
        else:
            errs.append("no calls.json")
    else:  # includes inputs refused part way: what was read must agree
        calls = json.load(open(os.path.join(r, "calls.json")))
        ctr = json.load(open(os.path.join(r, "stats.json")))["counters"]
        for ev in EVENTS:
            want = ctr["ev_" + ev.lower()]
            totals[ev] = totals.get(ev, 0) + want
            for k, v in calls.items():
                if k.split("@")[0] == ev and v != want:
                    errs.append("%s: %d handler calls, ev_%s = %d" % (k, v, ev.lower(), want))
        tsc = calls["TCP_STATE_CHANGE@SND"] + calls["TCP_STATE_CHANGE@RCV"]
        totals["TCP_STATE_CHANGE"] = totals.get("TCP_STATE_CHANGE", 0) + ctr["ev_tcp_state_change"]
        if tsc != ctr["ev_tcp_state_change"]:
            errs.append("TCP_STATE_CHANGE: %d handler calls (SND + RCV), ev_tcp_state_change = %d"
                        % (tsc, ctr["ev_tcp_state_change"]))
        totals["UDE"] = totals.get("UDE", 0) + ctr["ev_ude"]
        if calls["UDE@RCV"] != ctr["ev_ude"]:
            errs.append("UDE@RCV: %d handler calls, ev_ude = %d" % (calls["UDE@RCV"], ctr["ev_ude"]))
    if errs:
        fail += 1
        print("FAIL %s: %s" % (name, "; ".join(errs)))
    else:
        ok += 1
print("events compared (sum of counters over all runs): " +
      ", ".join("%s %d" % kv for kv in sorted(totals.items())))
print("%d runs agree, %d inputs refused before any event, %d disagree" % (ok - rejected, rejected, fail))
# Every event must have happened somewhere, or the comparison proves little.
missing = [ev for ev, n in totals.items() if n == 0]
if missing and require_all:
    print("FAIL: no capture raised " + ", ".join(missing))
    fail += 1
print("%d passed, %d failed" % (ok, fail))
sys.exit(1 if fail else 0)
