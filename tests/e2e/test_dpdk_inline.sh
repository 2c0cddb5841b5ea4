#!/usr/bin/env bash
# test_dpdk_inline.sh - mos-lua inline on DPDK ports between two real TCP
# stacks: net_af_packet vdevs on the middlebox's veth ends (no NIC, no
# hugepages: --no-huge --no-pci), in throwaway namespaces (netns/lib.sh).
#   1. an HTTP download arrives intact and bytecount.lua's totals equal what
#      curl reports was sent each way;
#   2. firewall.lua drops the flows to port 8081 (the client fails) while a
#      download from 8080 passes intact.
# Skips (77) without root, tools, or a mos-lua built with libdpdk.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/netns/lib.sh"
mos_netns_require curl python3 cmp ldd

SRC=${MOS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
ldd "$MOS" | grep -q librte_ethdev || { echo "SKIP: mos-lua built without libdpdk"; exit 77; }

mos_netns_setup
T=$MOS_NETNS_TMP
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

cat >"$T/dpdk.conf" <<EOC
[io]
inline_pair = dpdk:net_af_packet0,dpdk:net_af_packet1
dpdk_eal = --no-huge --no-pci -m 512 --file-prefix=mos$$ --log-level=*:error --vdev=net_af_packet0,iface=$MOS_IF_A --vdev=net_af_packet1,iface=$MOS_IF_B
EOC

www=$T/www
mkdir -p "$www"
head -c $((2 << 20)) /dev/urandom >"$www/blob.bin"
mos_http_server "$www" 8080 120 || { echo "FAIL: http server did not start"; exit 1; }
mos_http_server "$www" 8081 120 || { echo "FAIL: http server did not start"; exit 1; }

fetch() { # fetch URL OUTFILE [max-time] -> "local_port size_request size_header size_download"
    mos_ns_exec "$MOS_NS_CLI" --timeout 40 curl -sS --fail --max-time "${3:-30}" -o "$2" \
        -w '%{local_port} %{size_request} %{size_header} %{size_download}\n' "$1"
}
stat_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"][sys.argv[2]])' "$T/stats.json" "$1"; }

# ---- 1: transfer intact, byte counts equal the endpoints' ----------------
mos_mb_start 60 "$MOS" -q --stats "$T/stats.json" -s "out=$T/bytes.jsonl" "$here/netns/bytecount.lua" "$T/dpdk.conf"
if mos_mb_wait_path 8080; then
    fetch "http://$MOS_IP_SRV:8080/blob.bin" "$T/got.bin" >"$T/curl.txt" 2>&1
    sleep 0.5
fi
mos_mb_stop
[ "$MOS_MB_RC" = 0 ] && ok "mos-lua on DPDK exits 0 on SIGINT" || bad "mos-lua exit $MOS_MB_RC"
if cmp -s "$www/blob.bin" "$T/got.bin"; then
    ok "download through DPDK net_af_packet intact"
    read -r port req hdr body <"$T/curl.txt"
    got=$(python3 - "$T/bytes.jsonl" "$port" <<'EOP'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["client"].endswith(":" + sys.argv[2]):
        print(r.get("c2s") or 0, r.get("s2c") or 0)
EOP
)
    want="$req $((hdr + body))"
    [ "$got" = "$want" ] && ok "bytecount = curl's sizes ($want)" || bad "bytecount '$got', curl says '$want'"
else
    bad "download through DPDK corrupted or missing ($(head -c 300 "$T/curl.txt" 2>/dev/null))"
fi
[ -f "$T/stats.json" ] && [ "$(stat_of pkts_forwarded)" -gt 1000 ] && [ "$(stat_of pkts_dropped_io)" = 0 ] \
    && ok "counters: $(stat_of pkts_forwarded) forwarded, none dropped by I/O" \
    || bad "counters: forwarded/dropped_io wrong"

# ---- 2: firewall ----------------------------------------------------------
rm -f "$T/stats.json"
mos_mb_start 60 "$MOS" -q --stats "$T/stats.json" -s rule=8081 "$SRC/scripts/firewall.lua" "$T/dpdk.conf"
if mos_mb_wait_path 8080; then
    fetch "http://$MOS_IP_SRV:8081/blob.bin" "$T/blocked.bin" 3 >/dev/null 2>&1 \
        && bad "firewall: the download from 8081 succeeded" || ok "firewall: the download from 8081 fails"
    fetch "http://$MOS_IP_SRV:8080/blob.bin" "$T/allowed.bin" >/dev/null 2>&1
    cmp -s "$www/blob.bin" "$T/allowed.bin" && ok "firewall: the download from 8080 is intact" \
        || bad "firewall: the download from 8080 failed"
fi
mos_mb_stop
[ -f "$T/stats.json" ] && [ "$(stat_of pkts_dropped_handler)" -gt 0 ] \
    && ok "firewall: pkts_dropped_handler = $(stat_of pkts_dropped_handler)" || bad "firewall: nothing dropped by the handler"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
