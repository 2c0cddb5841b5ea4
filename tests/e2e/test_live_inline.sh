#!/usr/bin/env bash
# test_live_inline.sh - mos-lua inline between two real TCP stacks, on
# libpcap/AF_PACKET (io.inline_pair = pcap:mb0,pcap:mb1), in throwaway
# network namespaces (tests/e2e/netns/lib.sh):
#   1. an HTTP download (curl) arrives intact, and bytecount.lua's totals
#      equal what curl reports was sent each way (request; headers + body);
#   2. the same with -n 2 (PACKET_FANOUT pair) and 4 parallel downloads;
#   3. firewall.lua drops the flows to port 8081 (the client fails) while a
#      download from 8080 passes intact;
#   4. rewrite.lua changes a server response: same length, longer, shorter.
#      The client must receive exactly the rewritten bytes, the connection
#      must keep working afterwards (a 10 KB upload and its answer), and a
#      capture at the client must show only valid IP/TCP checksums.
# Skips (77) without root or tools. Every command is bounded by timeout(1).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/netns/lib.sh"
mos_netns_require curl python3 cmp

SRC=${MOS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }

mos_netns_setup
T=$MOS_NETNS_TMP
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

printf '[io]\ninline_pair = pcap:%s,pcap:%s\n' "$MOS_IF_A" "$MOS_IF_B" >"$T/inline.conf"

www=$T/www
mkdir -p "$www"
head -c $((3 << 20)) /dev/urandom >"$www/blob.bin"
mos_http_server "$www" 8080 200 || { echo "FAIL: http server did not start"; exit 1; }

# curl from client-ns; prints "local_port size_request size_header size_download"
fetch() { # fetch URL OUTFILE [max-time]
    mos_ns_exec "$MOS_NS_CLI" --timeout 40 curl -sS --fail --max-time "${3:-30}" -o "$2" \
        -w '%{local_port} %{size_request} %{size_header} %{size_download}\n' "$1"
}

# bytecount line for a client port: "c2s s2c"
counted() { # counted FILE PORT
    python3 - "$1" "$2" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["client"].endswith(":" + sys.argv[2]):
        print(r.get("c2s") or 0, r.get("s2c") or 0)
EOF
}

stat_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"][sys.argv[2]])' "$T/stats.json" "$1"; }

# ---- 1 and 2: transfers intact, byte counts equal the endpoints' --------
for n in 1 2; do
    rm -f "$T/bytes.jsonl" "$T/stats.json"
    mos_mb_start 100 "$MOS" -q -n "$n" --stats "$T/stats.json" -s "out=$T/bytes.jsonl" \
        "$here/netns/bytecount.lua" "$T/inline.conf"
    mos_mb_wait_path 8080 || { bad "-n $n: no forwarding path"; mos_mb_stop; continue; }
    nflows=$((n == 1 ? 1 : 4))
    pids=()
    for ((i = 0; i < nflows; i++)); do
        fetch "http://$MOS_IP_SRV:8080/blob.bin" "$T/got$i.bin" >"$T/curl$i.txt" 2>&1 &
        pids+=($!)
    done
    for ((i = 0; i < nflows; i++)); do wait "${pids[$i]}"; done
    sleep 0.5 # let the FIN/ACKs pass before stopping
    mos_mb_stop
    [ "$MOS_MB_RC" = 0 ] && ok "-n $n: mos-lua exits 0 on SIGINT" || bad "-n $n: mos-lua exit $MOS_MB_RC"
    for ((i = 0; i < nflows; i++)); do
        if cmp -s "$www/blob.bin" "$T/got$i.bin"; then ok "-n $n: download $i intact"
        else bad "-n $n: download $i corrupted or missing ($(head -c 200 "$T/curl$i.txt"))"; continue; fi
        read -r port req hdr body <"$T/curl$i.txt"
        got=$(counted "$T/bytes.jsonl" "$port")
        want="$req $((hdr + body))"
        [ "$got" = "$want" ] && ok "-n $n: bytecount of flow $i = curl's sizes ($want)" \
            || bad "-n $n: bytecount of flow $i: got '$got', curl says '$want'"
    done
    [ "$(stat_of pkts_dropped_io)" = 0 ] && [ "$(stat_of pkts_forwarded)" -gt 2000 ] \
        && ok "-n $n: counters: $(stat_of pkts_forwarded) forwarded, none dropped by I/O" \
        || bad "-n $n: counters forwarded=$(stat_of pkts_forwarded) dropped_io=$(stat_of pkts_dropped_io)"
done

# ---- 3: firewall drops one flow, others pass ------------------------------
mos_http_server "$www" 8081 200 || { echo "FAIL: second http server did not start"; exit 1; }
rm -f "$T/stats.json"
mos_mb_start 60 "$MOS" -q --stats "$T/stats.json" -s rule=8081 "$SRC/scripts/firewall.lua" "$T/inline.conf"
if mos_mb_wait_path 8080; then
    if fetch "http://$MOS_IP_SRV:8081/blob.bin" "$T/blocked.bin" 3 >/dev/null 2>&1; then
        bad "firewall: the download from port 8081 succeeded"
    else
        ok "firewall: the client's download from port 8081 fails"
    fi
    fetch "http://$MOS_IP_SRV:8080/blob.bin" "$T/allowed.bin" >/dev/null 2>&1
    cmp -s "$www/blob.bin" "$T/allowed.bin" && ok "firewall: the download from port 8080 is intact" \
        || bad "firewall: the download from port 8080 failed"
    sleep 0.3
fi
mos_mb_stop
[ "$(stat_of pkts_dropped_handler)" -gt 0 ] && ok "firewall: pkts_dropped_handler = $(stat_of pkts_dropped_handler)" \
    || bad "firewall: no packet counted as dropped by the handler"

# ---- 4: rewrite a response: same length, longer, shorter ------------------
expected() { # expected FROM TO -> the client's exact expected bytes
    python3 - "$here/netns" "$1" "$2" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import msg_peer
body = msg_peer.BODY1.replace(sys.argv[2].encode(), sys.argv[3].encode(), 1)
sys.stdout.buffer.write(body + b"OK %d\n" % len(msg_peer.PAYLOAD2))
EOF
}
have_tshark=0
command -v tshark >/dev/null && command -v dumpcap >/dev/null && have_tshark=1
port=9000
for to in HOWDY-MOS-LUA "HI, THIS TEXT IS LONGER THAN THE ORIGINAL" X; do
    port=$((port + 1))
    label="rewrite to ${#to} bytes (from 13)"
    rm -f "$T/stats.json" "$T/msg.out" "$T/cli.pcap"
    mos_ns_bg "$MOS_NS_SRV" 30 python3 "$here/netns/msg_peer.py" server "$MOS_IP_SRV" "$port"
    if [ "$have_tshark" = 1 ]; then
        mos_ns_bg "$MOS_NS_CLI" 30 dumpcap -q -i cli0 -f "tcp port $port" -w "$T/cli.pcap"
        cap=$MOS_NS_LAST_PID
    fi
    mos_mb_start 60 "$MOS" -q --stats "$T/stats.json" -s from=HELLO-MOS-LUA -s "to=$to" \
        "$here/netns/rewrite.lua" "$T/inline.conf"
    mos_mb_wait_path 8080
    mos_ns_wait_tcp "$MOS_NS_SRV" "$MOS_IP_SRV" "$port" >/dev/null 2>&1 || true
    [ "$have_tshark" = 1 ] && sleep 0.5 # dumpcap needs a moment to start
    mos_ns_exec "$MOS_NS_CLI" --timeout 20 python3 "$here/netns/msg_peer.py" client "$MOS_IP_SRV" "$port" "$T/msg.out" \
        >"$T/msg.err" 2>&1
    sleep 0.5
    mos_mb_stop
    if [ "$have_tshark" = 1 ]; then kill -INT "$cap" 2>/dev/null; wait "$cap" 2>/dev/null; fi
    if cmp -s <(expected HELLO-MOS-LUA "$to") "$T/msg.out"; then
        ok "$label: the client received exactly the rewritten bytes, and the connection kept working"
    else
        bad "$label: the client received something else ($(head -c 200 "$T/msg.err"); $(wc -c <"$T/msg.out" 2>/dev/null) bytes)"
    fi
    [ "$(stat_of pkts_rewritten)" -gt 0 ] && ok "$label: pkts_rewritten = $(stat_of pkts_rewritten)" \
        || bad "$label: pkts_rewritten is 0"
    if [ "$have_tshark" = 1 ] && [ -s "$T/cli.pcap" ]; then
        nbad=$(tshark -r "$T/cli.pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
            -Y 'tcp.checksum.status == 0 || ip.checksum.status == 0' 2>/dev/null | wc -l)
        ngood=$(tshark -r "$T/cli.pcap" -o tcp.check_checksum:TRUE -Y 'tcp.checksum.status == 1' 2>/dev/null | wc -l)
        [ "$nbad" = 0 ] && [ "$ngood" -gt 0 ] && ok "$label: $ngood segments at the client, all checksums valid" \
            || bad "$label: $nbad bad checksums at the client ($ngood good)"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
