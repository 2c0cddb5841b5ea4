#!/usr/bin/env bash
# Quick start, step 1: install every dependency (Debian 12 packages only),
# build mos-lua, and run it on the shipped sample capture.
#   ./setup.sh            install + build + run the sample
#   ./setup.sh --deps     install dependencies only (used by CI)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake pkg-config git
  libpcap-dev libluajit-5.1-dev luajit libxxhash-dev libhyperscan-dev nettle-dev
  libhiredis-dev redis-server
  libcriterion-dev lua-busted lua-cjson
  dpdk dpdk-dev libdpdk-dev
  tshark tcpflow python3 iproute2 curl time ethtool
  libssl3                      # libcrypto.so.3: MD5 for scripts/tls.lua (ja3)
  clang libclang-rt-14-dev   # the libFuzzer targets' short runs (tests/fuzz)
)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_deps
[[ "${1:-}" == "--deps" ]] && exit 0

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "setup: built build/mos-lua; running scripts/flowlog.lua on examples/sample.pcap"
echo
build/mos-lua -r examples/sample.pcap scripts/flowlog.lua
