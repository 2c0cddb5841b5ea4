# tests/e2e/netns/lib.sh - throwaway three-namespace topology for live tests.
#
#   client-ns            mb-ns (middlebox)             server-ns
#   cli0 10.199.1.1 <-veth-> mb0   [bridge|mos-lua]   mb1 <-veth-> srv0 10.199.1.2
#
# Source it from bash, call mos_netns_require (exits 77 = skipped when not
# root or tools are missing), then mos_netns_setup; teardown is trapped on
# EXIT/INT/TERM. Addresses exist only inside the namespaces, so traffic never
# leaves them. mb0/mb1 carry no IP: whatever runs in mb-ns sees and forwards
# raw frames, first a plain Linux bridge (mos_netns_bridge_up), later
# mos-lua in inline mode on the same two interfaces. Every command that
# could wait is wrapped in timeout(1).
#
# After setup these are set:
#   MOS_NS_CLI MOS_NS_MB MOS_NS_SRV   namespace names (unique per run)
#   MOS_IF_A=mb0 MOS_IF_B=mb1         the middlebox's two ports (A: client side)
#   MOS_IP_CLI=10.199.1.1 MOS_IP_SRV=10.199.1.2
#   MOS_NETNS_TMP                     scratch directory removed at teardown

MOS_IF_A=mb0
MOS_IF_B=mb1
MOS_IP_CLI=10.199.1.1
MOS_IP_SRV=10.199.1.2
MOS_NS_TIMEOUT=${MOS_NS_TIMEOUT:-30}   # seconds for any single command
_MOS_NS_PIDS=()

mos_netns_log() { echo "netns: $*" >&2; }

# Exit 77 (skip) unless this can work here.
mos_netns_require() {
    if [ "$(id -u)" != 0 ]; then echo "SKIP: network namespaces need root" >&2; exit 77; fi
    local t
    for t in ip timeout "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then echo "SKIP: $t not installed" >&2; exit 77; fi
    done
}

# Run a command inside a namespace, bounded in time.
#   mos_ns_exec NS [--timeout S] cmd args...
mos_ns_exec() {
    local ns=$1; shift
    local t=$MOS_NS_TIMEOUT
    if [ "${1:-}" = --timeout ]; then t=$2; shift 2; fi
    timeout --kill-after=5 "$t" ip netns exec "$ns" "$@"
}

# Start a command in the background inside a namespace; it is killed at
# teardown. Its pid (of the timeout wrapper) is left in MOS_NS_LAST_PID.
# Call it directly, not in $(...): the pid list lives in this shell.
#   mos_ns_bg NS TIMEOUT cmd args...
mos_ns_bg() {
    local ns=$1 t=$2; shift 2
    timeout --kill-after=5 "$t" ip netns exec "$ns" "$@" &
    MOS_NS_LAST_PID=$!
    _MOS_NS_PIDS+=("$MOS_NS_LAST_PID")
}

# Interface offloads would hand packet sockets 64 KB "super-frames" (GSO/GRO)
# and half-done checksums; a middlebox in mb-ns must see wire-sized frames.
_mos_no_offload() {
    local ns=$1 dev=$2
    if command -v ethtool >/dev/null 2>&1; then
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    fi
}

mos_netns_setup() {
    local p=${1:-mos$$}
    MOS_NS_CLI=${p}cli MOS_NS_MB=${p}mb MOS_NS_SRV=${p}srv
    MOS_NETNS_TMP=$(mktemp -d /tmp/mos-netns.XXXXXX)
    trap mos_netns_teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local ns
    for ns in "$MOS_NS_CLI" "$MOS_NS_MB" "$MOS_NS_SRV"; do
        ip netns add "$ns" || return 1
        # No IPv6: no router solicitations or MLD reports in captures.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 >/dev/null
        ip -n "$ns" link set lo up
    done
    ip -n "$MOS_NS_CLI" link add name cli0 type veth peer name "$MOS_IF_A" netns "$MOS_NS_MB" || return 1
    ip -n "$MOS_NS_SRV" link add name srv0 type veth peer name "$MOS_IF_B" netns "$MOS_NS_MB" || return 1
    ip -n "$MOS_NS_CLI" addr add "$MOS_IP_CLI/24" dev cli0
    ip -n "$MOS_NS_SRV" addr add "$MOS_IP_SRV/24" dev srv0
    _mos_no_offload "$MOS_NS_CLI" cli0
    _mos_no_offload "$MOS_NS_SRV" srv0
    _mos_no_offload "$MOS_NS_MB" "$MOS_IF_A"
    _mos_no_offload "$MOS_NS_MB" "$MOS_IF_B"
    ip -n "$MOS_NS_CLI" link set cli0 up
    ip -n "$MOS_NS_SRV" link set srv0 up
    ip -n "$MOS_NS_MB" link set "$MOS_IF_A" up
    ip -n "$MOS_NS_MB" link set "$MOS_IF_B" up
    mos_netns_log "up: $MOS_NS_CLI($MOS_IP_CLI) <-> $MOS_NS_MB($MOS_IF_A|$MOS_IF_B) <-> $MOS_NS_SRV($MOS_IP_SRV)"
}

# A plain L2 bridge across the middlebox: the reference the inline test
# swaps for mos-lua.
mos_netns_bridge_up() {
    ip -n "$MOS_NS_MB" link add name br0 type bridge || return 1
    # Forward at once instead of after the STP learning delay.
    ip -n "$MOS_NS_MB" link set br0 type bridge stp_state 0 forward_delay 0
    ip -n "$MOS_NS_MB" link set "$MOS_IF_A" master br0
    ip -n "$MOS_NS_MB" link set "$MOS_IF_B" master br0
    ip -n "$MOS_NS_MB" link set br0 up
}

mos_netns_bridge_down() {
    ip -n "$MOS_NS_MB" link del br0 2>/dev/null || true
}

# Wait (bounded) until TCP port $3 on $2 accepts connections from namespace $1.
mos_ns_wait_tcp() {
    local ns=$1 host=$2 port=$3 tries=${4:-100}
    local i
    for ((i = 0; i < tries; i++)); do
        if ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    mos_netns_log "timeout waiting for $host:$port from $ns"
    return 1
}

# Serve directory $1 over HTTP on MOS_IP_SRV:$2 (default 8080) from server-ns
# for at most $3 seconds (default 120); waits until it accepts.
mos_http_server() {
    local dir=$1 port=${2:-8080} t=${3:-120}
    mos_ns_bg "$MOS_NS_SRV" "$t" python3 -m http.server "$port" --bind "$MOS_IP_SRV" \
        --directory "$dir" >"$MOS_NETNS_TMP/http.log" 2>&1
    mos_ns_wait_tcp "$MOS_NS_SRV" "$MOS_IP_SRV" "$port"
}

mos_netns_teardown() {
    local rc=$?
    local pid
    for pid in "${_MOS_NS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${_MOS_NS_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    _MOS_NS_PIDS=()
    local ns
    for ns in "${MOS_NS_CLI:-}" "${MOS_NS_MB:-}" "${MOS_NS_SRV:-}"; do
        # Deleting a namespace removes its veth ends, and their peers with them.
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
    done
    [ -n "${MOS_NETNS_TMP:-}" ] && rm -rf "$MOS_NETNS_TMP"
    MOS_NS_CLI= MOS_NS_MB= MOS_NS_SRV= MOS_NETNS_TMP=
    return $rc
}

# --- mos-lua in the middle (used by test_live_*.sh and test_dpdk_*.sh) ---

# Start mos-lua in mb-ns: mos_mb_start TIMEOUT args... (pid in MOS_MB_PID).
mos_mb_start() {
    local t=$1; shift
    mos_ns_bg "$MOS_NS_MB" "$t" "$@"
    MOS_MB_PID=$MOS_NS_LAST_PID
}

# Wait (bounded) until a TCP connection from the client reaches the server's
# port $1 (a listener must be up) through the middle.
mos_mb_wait_path() {
    mos_ns_wait_tcp "$MOS_NS_CLI" "$MOS_IP_SRV" "$1" "${2:-100}"
}

# SIGINT mos-lua (timeout(1) passes it on) and wait; its exit code in MOS_MB_RC.
mos_mb_stop() {
    kill -INT "$MOS_MB_PID" 2>/dev/null || true
    wait "$MOS_MB_PID"
    MOS_MB_RC=$?
}
