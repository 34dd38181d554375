#!/usr/bin/env bash
# containerd beside the probe (issue 15): for every failing scenario of the
# test bed, plus a TLS stall and a hung registry, how long Debian's
# containerd (1.6.20, `ctr images pull --hosts-dir`, the CRI plugin's
# resolver) takes to give its error, what it says, and the probe's time and
# code with its default stage timeout (5s). The runs are the `#[ignore]`d
# bench of tests/runtime.rs, on the test bed (network namespaces, as root);
# nothing outside them is contacted.
#
# Prints a Markdown table on stdout (the one in README.md) and a last line
#   runtime: scenarios=N containerd_max_s=A probe_max_s=B
# Needs root, the bed's packages (scripts/test installs them) and containerd.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_need containerd ctr=containerd skopeo docker-registry dnsmasq=dnsmasq-base tinyproxy htpasswd=apache2-utils nsenter=util-linux
[ "$(id -u)" -eq 0 ] || { log "bench/runtime.sh needs root (network namespaces)"; exit 1; }
log "load before: $(uptime)"
out=$(CI=true cargo test --release --test runtime -- --ignored --nocapture --exact bench_containerd_and_probe_times 2>/dev/null)
table=$(printf '%s\n' "$out" | grep '^|')
printf '%s\n' "$table"
printf '%s\n' "$table" | awk -F'|' 'NR > 2 {
  n++; c = $3; p = $5; gsub(/[^0-9.]/, "", c); gsub(/[^0-9.]/, "", p)
  if (c + 0 > cmax) cmax = c + 0; if (p + 0 > pmax) pmax = p + 0 }
  END { printf "runtime: scenarios=%d containerd_max_s=%.1f probe_max_s=%.1f\n", n, cmax, pmax }'
