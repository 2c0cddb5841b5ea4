#!/usr/bin/env bash
# test_live_netns_bridge.sh - the live-test topology carries a real TCP
# transfer: HTTP from server-ns to client-ns through a plain Linux bridge in
# mb-ns. The file's SHA-256 at the client must equal the served file's.
# This is the reference setup the inline mos-lua test reuses (bridge
# replaced by mos-lua on MOS_IF_A/MOS_IF_B). Skips (77) without root/tools.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/netns/lib.sh"
mos_netns_require curl python3 sha256sum

mos_netns_setup
mos_netns_bridge_up

www=$MOS_NETNS_TMP/www
mkdir -p "$www"
# 4 MiB of incompressible bytes: many segments, windows, retransmit-prone.
head -c $((4 << 20)) /dev/urandom >"$www/blob.bin"
want=$(sha256sum <"$www/blob.bin" | cut -d' ' -f1)

mos_http_server "$www" 8080 120

mos_ns_exec "$MOS_NS_CLI" --timeout 60 \
    curl -sS --fail --max-time 50 -o "$MOS_NETNS_TMP/got.bin" "http://$MOS_IP_SRV:8080/blob.bin"
got=$(sha256sum <"$MOS_NETNS_TMP/got.bin" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
    echo "FAIL: transfer through the bridge corrupted ($got != $want)" >&2
    exit 1
fi

# The middlebox namespace itself has no address on either side.
if ip -n "$MOS_NS_MB" -4 addr show | grep -q 'inet 10\.'; then
    echo "FAIL: mb-ns must not have 10.x addresses" >&2
    exit 1
fi
echo "1 passed, 0 failed"
