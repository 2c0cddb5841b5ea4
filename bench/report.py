#!/usr/bin/env python3
"""bench/report.py - turn bench/run.sh raw results into RESULTS.md + plots.

    python3 bench/report.py [--apps|--match] RAW_RESULTS_DIR OUT_DIR [WORKLOAD...]

--apps writes APPS.md (the shipped apps' rows only, from ONLY_APPS=1 runs)
instead of RESULTS.md; --match writes MATCH.md (the stream-matching rows and
their targets, from ONLY_MATCH=1 runs).

RAW_RESULTS_DIR is $MOS_BENCH_DIR/results: one folder per workload with the
generator's sidecar.json, status.tsv (correctness pass: name, status, got,
expected, peak RSS KiB) and hyperfine JSON per group (main, ude, cores, apps), plus
machine.txt. Rates use the sidecar's own counts; every ratio compares two
medians from the SAME hyperfine call, so drift between calls cancels.
Standard library only; plots through gnuplot when it is installed.
"""
import json
import os
import shutil
import subprocess
import sys

# The issue defines the read bound as libpcap pcap_next_ex (what every peer
# reads with) and a raw mmap walk; both are shown, pcap_next_ex is the one
# the targets use. mos-lua's own input (a read(2) record walker) is the
# bound_read row, also a column.
READ_BOUND = "bound_pcap"

LABELS = {
    "bound_pcap": "bound: libpcap pcap_next_ex, pcap_open_offline (**read bound**)",
    "bound_pcapbuf": "bound: libpcap pcap_next_ex, 1 MiB setvbuf",
    "bound_read": "bound: read(2) 4 MiB chunks, records walked by hand (mos-lua's input path)",
    "bound_mmap": "bound: mmap, records walked in place",
    "ref_flowtrack": "reference: minimal C flow tracker (../shared/bench/flowtrack.c, 1 MiB setvbuf)",
    "lua_count_nobuf": "mos-lua count.lua (counter in flow.uctx, like the C app; stream buffers off)",
    "lua_count": "mos-lua count.lua, stream buffers on (default config; informational)",
    "lua_count_ctx": "mos-lua count_ctx.lua (counter in a flow.ctx table, informational)",
    "lua_search": "mos-lua search.lua (reassembly + needle; flow:read + memmem, like the C app)",
    "lua_search_str": "mos-lua search_str.lua (same with flow:peek strings + string.find, informational)",
    "c_count_nobuf": "C API count (stream buffers off)",
    "c_count": "C API count, stream buffers on (informational)",
    "c_search": "C API search",
    "libnids": "libnids reassembly + needle (IPv4 only)",
    "lua_match": "mos-lua match.lua: mos.matcher, 1 needle",
    "lua_match1k": "mos-lua match.lua: mos.matcher, 1,000 patterns (999 random 12-byte literals + the needle)",
    "c_match": "C API match: the same matcher (mtcp_matcher_scan), 1 needle",
    "c_match1k": "C API match, 1,000 patterns",
    "m_lua_search": "mos-lua search.lua (flow:read + memmem; for comparison)",
    "m_libnids": "libnids reassembly + needle (IPv4 only)",
    "tcpflow_FX": "tcpflow -FX (no flow files)",
    "ndpiReader": "ndpiReader -q (informational)",
}


# Rows of the stream-matching group (its own hyperfine call: "match").
MATCH_ROWS = ("lua_match", "lua_match1k", "c_match", "c_match1k", "m_lua_search", "m_libnids")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def medians(path):
    """name -> median wall seconds of one hyperfine export."""
    data = load_json(path)
    out = {}
    if not data:
        return out
    for r in data.get("results", []):
        out[r["command"]] = r.get("median", r.get("mean"))
    return out


def status(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 5:
                    rows.append({"name": p[0], "status": p[1], "got": p[2], "want": p[3], "rss": p[4]})
    except OSError:
        pass
    return rows


def fmt(v, nd=2):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.{nd}f}"


def size(n):
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def ratio(a, b):
    """speed ratio tool/reference from times: reference_time / tool_time."""
    if a is None or b is None or a <= 0:
        return None
    return b / a


def rss_kib(st, name):
    for r in st:
        if r["name"] == name and r["rss"] not in ("-", ""):
            return int(r["rss"])
    return None


def verdict(value, goal, higher=True):
    if value is None:
        return "n/a"
    ok = value >= goal if higher else value <= goal
    return "PASS" if ok else "FAIL"


def gnuplot(script):
    if not shutil.which("gnuplot"):
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
    return r.returncode == 0


def plot_series(out_dir, fname, title, xlabel, series, extra=""):
    """series: list of (label, [(x, y)]); writes OUT_DIR/fname.png."""
    series = [(lab, pts) for lab, pts in series if pts]
    if not series:
        return None
    dat = os.path.join(out_dir, fname + ".dat")
    with open(dat, "w") as f:
        for lab, pts in series:
            f.write(f"# {lab}\n")
            for x, y in pts:
                f.write(f"{x} {y}\n")
            f.write("\n\n")
    png = os.path.join(out_dir, fname + ".png")
    plots = ", ".join(
        f"'{dat}' index {i} with linespoints lw 2 pt 7 title '{lab}'" for i, (lab, _) in enumerate(series)
    )
    ok = gnuplot(
        f"set terminal png size 800,500\nset output '{png}'\nset title '{title}'\n"
        f"set xlabel '{xlabel}'\nset ylabel 'Mpkt/s'\nset grid\nset yrange [0:*]\n"
        f"set key bottom right\n{extra}plot {plots}\n"
    )
    os.remove(dat)
    return os.path.basename(png) if ok else None


def apps_section(d, pk, st):
    """The shipped apps' rows (bench_apps in run.sh): their own hyperfine group."""
    apps = medians(os.path.join(d, "apps.json"))
    user = {r["command"]: r.get("user") for r in (load_json(os.path.join(d, "apps.json")) or {}).get("results", [])}
    app_rows = [r for r in st if r["name"].startswith("app_")]
    if not app_rows:
        return []
    L = ["Shipped apps (`scripts/NAME.lua`, default config: conn, midstat and abacus turn stream buffers off where they need none; JSON records to /dev/null; the "
         "answer is the number of records of the untimed run: conn, http and abacus one per flow, tls none "
         "since the workload has no TLS):\n",
         "| app | answer | median s | Mpkt/s | ratio to count.lua (buffers off, same call) | mean user CPU s "
         "(count.lua: " + fmt(user.get("apps_ref_count"), 1) + ") | peak RSS MiB |",
         "|---|---|---|---|---|---|---|"]
    for r in app_rows:
        t = apps.get(r["name"])
        ans = r["status"] if r["got"] in ("-", "") or r["status"] == "n/a" else f"{r['status']} ({r['got']})"
        rss = rss_kib(st, r["name"])
        L.append("| " + " | ".join([r["name"][4:] + ".lua", ans, fmt(t, 3), fmt(pk / t / 1e6 if t else None),
                                    fmt(ratio(t, apps.get("apps_ref_count"))), fmt(user.get(r["name"]), 1),
                                    fmt(rss / 1024 if rss else None, 1)]) + " |")
    return L + [""]


def match_section(d, pk, pay, st):
    """The stream-matching rows (bench_match in run.sh): their own hyperfine group."""
    match = medians(os.path.join(d, "match.json"))
    if not match:
        return []
    mn = match.get("m_libnids")
    # CPU seconds (hyperfine's mean user + system): less disturbed than wall
    # time when other work shares the machine, so shown beside it
    cpu = {r["command"]: r["user"] + r["system"]
           for r in (load_json(os.path.join(d, "match.json")) or {}).get("results", [])
           if r.get("user") is not None and r.get("system") is not None}
    L = ["Stream matching (`mos.matcher`; one hyperfine call, ratios to libnids searching one needle in the "
         "same call; CPU = mean user + system seconds):\n",
         "| tool | answer | median s | Mpkt/s | Gbit/s payload | ratio to libnids | CPU s | CPU ratio to libnids "
         "| peak RSS MiB |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name in MATCH_ROWS:
        r = next((x for x in st if x["name"] == name), None)
        if r is None:
            continue
        t = match.get(name)
        ans = r["status"] if r["got"] in ("-", "") or r["status"] == "n/a" else f"{r['status']} ({r['got']})"
        rss = rss_kib(st, name)
        L.append("| " + " | ".join([LABELS[name], ans, fmt(t, 3), fmt(pk / t / 1e6 if t else None),
                                    fmt(pay * 8 / t / 1e9 if t else None), fmt(ratio(t, mn)),
                                    fmt(cpu.get(name)), fmt(ratio(cpu.get(name), cpu.get("m_libnids"))),
                                    fmt(rss / 1024 if rss else None, 1)]) + " |")
    L += ["", "Lua / C API with the same matcher: 1 needle " +
          fmt(ratio(match.get("lua_match"), match.get("c_match"))) + ", 1,000 patterns " +
          fmt(ratio(match.get("lua_match1k"), match.get("c_match1k"))) + " (CPU: " +
          fmt(ratio(cpu.get("lua_match"), cpu.get("c_match"))) + ", " +
          fmt(ratio(cpu.get("lua_match1k"), cpu.get("c_match1k"))) + ")\n"]
    return L


def match_targets(d, wl, st, targets):
    match = medians(os.path.join(d, "match.json"))
    if wl not in ("small", "large") or not match:
        return
    mn = match.get("m_libnids")
    bad = sorted(r["name"] for r in st if r["status"] == "WRONG" and r["name"] in MATCH_ROWS)
    tag = " (wrong answers: " + ", ".join(bad) + ")" if bad else ""
    goal = 3.0 if wl == "small" else 2.0
    targets.append((f"mos.matcher search, 1 needle >= {goal:g}x libnids" + tag, wl,
                    ratio(match.get("lua_match"), mn), goal, True))
    if wl == "small":
        targets.append(("mos.matcher search, 1,000 patterns >= 2x libnids (one needle)" + tag, wl,
                        ratio(match.get("lua_match1k"), mn), 2.0, True))
    for k, what in (("", "1 needle"), ("1k", "1,000 patterns")):
        targets.append((f"Lua with the matcher >= 85% of the C API ({what})" + tag, wl,
                        ratio(match.get("lua_match" + k), match.get("c_match" + k)), 0.85, True))


def workload_section(raw, out_dir, wl, targets):
    d = os.path.join(raw, wl)
    sc = load_json(os.path.join(d, "sidecar.json"))
    if not sc:
        return [f"## {wl}\n", "no results (workload not run)\n"]
    st = status(os.path.join(d, "status.tsv"))
    main = medians(os.path.join(d, "main.json"))
    ude = medians(os.path.join(d, "ude.json"))
    cores = medians(os.path.join(d, "cores.json"))
    pk, wire, pay = sc["packets"], sc["frame_bytes"], sc["payload_bytes_with_rexmit"]
    L = [f"## {wl}\n"]
    L.append(
        f"{pk:,} packets, {size(wire)} of frames, {size(pay)} TCP payload, "
        f"{sc['flows_started']:,} flows ({sc['flows_completed']:,} complete), "
        f"concurrency {sc['concurrency']:,}, {sc['flow_bytes']:,} B/flow"
        f"{' (warm start)' if sc.get('warm_start') else ''}, needles {sc['needles']:,} "
        f"({sc['needles_v4']:,} in IPv4 flows), retransmitted {sc['rexmit_packets']:,}, "
        f"reordered {sc['ooo_swaps']:,}, IPv6 flows {sc['flows_v6']:,}.\n"
    )
    bound, nids = main.get(READ_BOUND), main.get("libnids")
    bound_walk = main.get("bound_read")
    L.append("| tool | answer | median s | Mpkt/s | Gbit/s payload | Gbit/s wire | "
             "ratio to read bound | ratio to read(2) walk | ratio to C tracker | ratio to libnids | peak RSS MiB |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    tracker = main.get("ref_flowtrack")
    seen = set()
    for r in st:
        name = r["name"]
        if name not in LABELS or name in seen or name in MATCH_ROWS:
            continue
        seen.add(name)
        t = main.get(name)
        ans = r["status"]
        if r["got"] not in ("-", "") and r["status"] != "n/a":
            ans = f"{r['status']} ({r['got']})"
        rss = rss_kib(st, name)
        L.append(
            "| " + " | ".join([
                LABELS[name], ans, fmt(t, 3),
                fmt(pk / t / 1e6 if t else None),
                fmt(pay * 8 / t / 1e9 if t else None),
                fmt(wire * 8 / t / 1e9 if t else None),
                fmt(ratio(t, bound)), fmt(ratio(t, bound_walk)), fmt(ratio(t, tracker)),
                fmt(ratio(t, nids)), fmt(rss / 1024 if rss else None, 1),
            ]) + " |"
        )
    L.append("")
    L += apps_section(d, pk, st)
    L += match_section(d, pk, pay, st)
    match_targets(d, wl, st, targets)
    wrong = [r for r in st if r["status"] == "WRONG"]
    if wrong:
        L.append("**Wrong answers:** " + ", ".join(f"{r['name']} got {r['got']} expected {r['want']}" for r in wrong) + "\n")

    # --- event scaling ---
    ude_pts = [(n, pk / ude[f"lua_search_ude{n}"] / 1e6) for n in (4, 16, 64) if ude.get(f"lua_search_ude{n}")]
    ude_ratio = ratio(ude.get("lua_search_ude64"), ude.get("lua_search_ude4"))
    L.append("Event scaling (search.lua + N UDEs on CONN_NEW_DATA): " +
             (", ".join(f"{n} UDEs {v:.2f} Mpkt/s" for n, v in ude_pts) if ude_pts else "n/a") +
             f"; 64 vs 4 UDEs: {fmt(ude_ratio)}\n")
    png = plot_series(out_dir, f"ude_{wl}", f"Event scaling, {wl}", "user-defined events per flow",
                      [("search.lua", ude_pts)], "set logscale x 2\nset xtics (4, 16, 64)\n")
    if png:
        L.append(f"![event scaling {wl}]({png})\n")

    # --- core scaling ---
    core_series, core_ratio = [], {}
    for app in ("count", "search"):
        pts = [(n, pk / cores[f"lua_{app}_cores{n}"] / 1e6) for n in (1, 2) if cores.get(f"lua_{app}_cores{n}")]
        core_series.append((f"{app}.lua", pts))
        core_ratio[app] = ratio(cores.get(f"lua_{app}_cores2"), cores.get(f"lua_{app}_cores1"))
    L.append("Core scaling (-n 2 vs -n 1; count with stream buffers off, search with them on): " +
             ", ".join(f"{a}.lua " + (f"{v:.2f}x" if v else "n/a") for a, v in core_ratio.items()) + "\n")
    png = plot_series(out_dir, f"cores_{wl}", f"Core scaling, {wl}", "cores", core_series,
                      "set xtics (1, 2)\nset xrange [0.8:2.2]\n")
    if png:
        L.append(f"![core scaling {wl}]({png})\n")

    # --- memory per flow ---
    conc = sc["concurrency"]
    per_flow = {}
    for key, run, base in (("on", "lua_count", "lua_count_base"), ("off", "lua_count_nobuf", "lua_count_nobuf_base")):
        a, b = rss_kib(st, run), rss_kib(st, base)
        per_flow[key] = (a - b) * 1024 / conc if a is not None and b is not None and a > b else None
    if wl != "smoke":  # the smoke capture is its own baseline
        L.append(f"Memory per tracked flow at {conc:,} concurrent (peak RSS minus the 1000-flow baseline, "
                 f"divided by the concurrency): buffers on {fmt(per_flow['on'], 0)} B, "
                 f"buffers off {fmt(per_flow['off'], 0)} B\n")
        stats = load_json(os.path.join(d, "lua_count_nobuf.stats.json")) or {}
        peak = (stats.get("counters") or {}).get("flows_peak")
        a, b = rss_kib(st, "lua_count_nobuf"), rss_kib(st, "lua_count_nobuf_base")
        if peak and a is not None and b is not None and a > b:
            L.append(f"Buffers off, divided instead by the flows actually tracked at the peak "
                     f"(flows_peak = {peak:,}: flows lingering in TIME_WAIT included): "
                     f"{fmt((a - b) * 1024 / peak, 0)} B per tracked flow\n")

    # --- targets for this workload (a wrong answer voids the speed claim) ---
    bad = {r["name"] for r in st if r["status"] == "WRONG"}
    n0 = len(targets)
    if wl in ("small", "large"):
        if wl == "small":
            targets.append(("Lua packet counting >= 70% of the read bound", wl,
                            ratio(main.get("lua_count_nobuf"), bound), 0.70, True))
            targets.append(("<= 512 bytes per tracked flow, buffers off", wl, per_flow["off"], 512, False))
        goal = 3.0 if wl == "small" else 2.0
        targets.append((f"Lua reassembly+search >= {goal:g}x libnids", wl,
                        ratio(main.get("lua_search"), nids), goal, True))
        targets.append(("Lua count >= 85% of the C-API count", wl,
                        ratio(main.get("lua_count_nobuf"), main.get("c_count_nobuf")), 0.85, True))
        targets.append(("Lua search >= 85% of the C-API search", wl,
                        ratio(main.get("lua_search"), main.get("c_search")), 0.85, True))
        targets.append(("64 UDEs >= 75% of 4 UDEs", wl, ude_ratio, 0.75, True))
        for app in ("count", "search"):
            targets.append((f"2 cores >= 1.7x 1 core ({app}.lua)", wl, core_ratio[app], 1.7, True))
    if bad:
        for i in range(n0, len(targets)):
            name, w, val, goal, higher = targets[i]
            targets[i] = (name + " (wrong answers: " + ", ".join(sorted(bad)) + ")", w, val, goal, higher)
    return L


def machine(raw):
    info = {}
    text = ""
    try:
        with open(os.path.join(raw, "machine.txt")) as f:
            text = f.read()
    except OSError:
        return ["machine description missing\n"]
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info.setdefault(k.strip(), v.strip())
    keys = ["date", "kernel", "git", "Model name", "CPU(s)", "Thread(s) per core", "L3", "Hypervisor vendor",
            "runs", "mos-lua"]
    out = ["| | |", "|---|---|"]
    out += [f"| {k} | {info[k]} |" for k in keys if k in info]
    mem = [line for line in text.splitlines() if line.startswith("Mem:")]
    if mem:
        out.append(f"| memory MiB (total used free ...) | {' '.join(mem[0].split()[1:4])} |")
    load = text.strip().splitlines()[-1] if text.strip() else ""
    out.append(f"| load average at the end | {load} |")
    return out + [""]


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: report.py [--apps|--match] RAW_RESULTS_DIR OUT_DIR [WORKLOAD...]\n")
        return 2
    args = sys.argv[1:]
    only_apps = "--apps" in args
    only_match = "--match" in args
    args = [a for a in args if a not in ("--apps", "--match")]
    raw, out_dir = args[0], args[1]
    wls = args[2:] or sorted(e for e in os.listdir(raw) if os.path.isdir(os.path.join(raw, e)))
    os.makedirs(out_dir, exist_ok=True)
    if only_apps: # ONLY_APPS=1 runs: APPS.md, leaving RESULTS.md as the last full run made it
        L = ["# mos-lua benchmark: the shipped apps\n",
             "Generated by `ONLY_APPS=1 bench/run.sh WORKLOAD` + `bench/report.py --apps`. Times are hyperfine "
             "medians of whole-process wall time, capture in the page cache; the ratio compares medians "
             "from one hyperfine call.\n", "## Machine\n"] + machine(raw)
        for wl in wls:
            d = os.path.join(raw, wl)
            sc = load_json(os.path.join(d, "sidecar.json"))
            if sc:
                L += [f"## {wl}\n", f"{sc['packets']:,} packets, {sc['flows_started']:,} flows, "
                      f"concurrency {sc['concurrency']:,}, {sc['flow_bytes']:,} B/flow.\n"]
                L += apps_section(d, sc["packets"], status(os.path.join(d, "status.tsv")))
        with open(os.path.join(out_dir, "APPS.md"), "w") as f:
            f.write("\n".join(L) + "\n")
        print(os.path.join(out_dir, "APPS.md"))
        return 0
    if only_match:  # ONLY_MATCH=1 runs: MATCH.md, leaving RESULTS.md as the last full run made it
        targets = []
        body = []
        for wl in wls:
            d = os.path.join(raw, wl)
            sc = load_json(os.path.join(d, "sidecar.json"))
            if sc:
                st = status(os.path.join(d, "status.tsv"))
                body += [f"## {wl}\n", f"{sc['packets']:,} packets, {sc['flows_started']:,} flows, "
                         f"concurrency {sc['concurrency']:,}, {sc['flow_bytes']:,} B/flow, "
                         f"needles {sc['needles']:,} ({sc['needles_v4']:,} in IPv4 flows).\n"]
                body += match_section(d, sc["packets"], sc["payload_bytes_with_rexmit"], st)
                match_targets(d, wl, st, targets)
        L = ["# mos-lua benchmark: stream matching\n",
             "Generated by `ONLY_MATCH=1 bench/run.sh WORKLOAD` + `bench/report.py --match`. Times are "
             "hyperfine medians of whole-process wall time, capture in the page cache; each ratio compares "
             "medians from one hyperfine call.\n", "## Machine\n"] + machine(raw) + ["## Targets\n"]
        if targets:
            L += ["| target | workload | measured | goal | verdict |", "|---|---|---|---|---|"]
            L += [f"| {n} | {w} | {fmt(v)} | >= {g:g} | {verdict(v, g, h)} |" for n, w, v, g, h in targets]
        L += [""] + body
        with open(os.path.join(out_dir, "MATCH.md"), "w") as f:
            f.write("\n".join(L) + "\n")
        print(os.path.join(out_dir, "MATCH.md"))
        return 0
    targets = []
    body = []
    for wl in wls:
        body += workload_section(raw, out_dir, wl, targets)
    L = ["# mos-lua benchmark results\n",
         "Generated by `bench/run.sh` + `bench/report.py`; how to read it: [../README.md](../README.md). "
         "Times are hyperfine medians of whole-process wall time, capture in the page cache. "
         f"\"Read bound\" = `{READ_BOUND}` (libpcap `pcap_next_ex` as the peers read, the issue's "
         "definition; the mmap walk, libpcap with a 1 MiB buffer and the read(2) record walk that mos-lua "
         "itself uses are rows of their own); ratios > 1 mean faster than the reference; each ratio compares medians from one "
         "hyperfine call. \"n/a\" = the tool could not run in this build.\n",
         "## Machine\n"] + machine(raw)
    L.append("## Targets\n")
    if targets:
        L.append("| target | workload | measured | goal | verdict |")
        L.append("|---|---|---|---|---|")
        for name, wl, val, goal, higher in targets:
            L.append(f"| {name} | {wl} | {fmt(val)} | {'>=' if higher else '<='} {goal:g} | "
                     f"{verdict(val, goal, higher)} |")
    else:
        L.append("Targets are judged on `small` and `large` only; none were run.")
    L.append("")
    L += body
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print(os.path.join(out_dir, "RESULTS.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
