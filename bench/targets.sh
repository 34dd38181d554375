#!/usr/bin/env bash
# Big target lists (issue 19): one `probe daemon` (the static binary the
# DaemonSet ships, scripts/static-build) per list size, each target an image
# on its own registry name (rN.bench, pinned to 127.0.0.1 in the node
# root's /etc/hosts, a wildcard certificate), all served by one local TLS
# docker-registry: no ping is shared, every target costs a full pass. For
# each size it reads the agent's peak RSS (VmHWM) over three rounds, the
# RSS after them, the cold (first) and warm (third) round times from the
# reports, and the descriptors. A size over the agent's limit
# (MAX_TARGETS, src/daemon/targets.rs) must be refused: no target probed,
# /readyz 503 with the reason.
#
# The per-target cost is the slope of the peak RSS between the smallest and
# the largest accepted size.
#
# The peer, in the same run and for each size: `skopeo inspect --raw` of
# the same image once per target, 64 at a time (the agent's wave), on
# 127.0.0.1 (skopeo cannot read the node root's /etc/hosts); each process
# its own ping and manifest GET, as each agent target has its own registry.
# Its wall time against the agent's cold round is the ratio printed.
#
# Env: SIZES ("100 500 2000"), INTERVAL (3s).
# Progress on stderr, figures on stdout; the last line is
#   targets: per_target_kb=K base_kb=B limit=L peak_kb_at_limit=P
# Nothing but 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-100 500 2000}
INTERVAL=${INTERVAL:-3s}
LIMIT=$(sed -n 's/^pub const MAX_TARGETS: usize = \([0-9_]*\);/\1/p' src/daemon/targets.rs | tr -d _)

. bench/lib.sh
bench_need docker-registry skopeo openssl python3 curl
bench_build_static
bench_workdir
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "load before: $(uptime)"

bench_certs '*.t.bench'
rport=$(bench_free_port)
bench_registry "$rport" "$work/registry"
bench_layout "$work/layout"
bench_push "$work/layout" "$rport" bench/app:1

results=()
for n in $SIZES; do
  names=()
  for i in $(seq 0 $((n - 1))); do names+=("r$i.t.bench"); done
  bench_node_root "${names[@]}"
  { echo "images:"; for name in "${names[@]}"; do echo "  - $name:$rport/bench/app:1"; done; } >"$work/targets.yml"
  lport=$(bench_free_port)
  NODE_NAME=bench-targets bench_spawn "$work/agent-$n.out" "$work/agent-$n.err" "$PROBE" daemon \
    --root "$work/root" --listen "127.0.0.1:$lport" --targets "$work/targets.yml" \
    --interval "$INTERVAL" --registry-interval "$INTERVAL"
  agent=$!
  # Three report lines (rounds), two minutes at most.
  for _ in $(seq 1200); do
    kill -0 "$agent" 2>/dev/null || { log "the agent died at $n targets:"; tail -5 "$work/agent-$n.err" >&2; exit 1; }
    [ "$(wc -l <"$work/agent-$n.out")" -ge 3 ] && break
    sleep 0.1
  done
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$agent/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$agent/status")
  fds=$(find "/proc/$agent/fd" -mindepth 1 -maxdepth 1 | wc -l)
  ready=$(curl -s -o "$work/readyz-$n" -w '%{http_code}' "http://127.0.0.1:$lport/readyz" || true)
  bench_stop_all "$agent"
  line=$(python3 - "$work/agent-$n.out" "$n" "$hwm" "$rss" "$fds" "$ready" "$work/readyz-$n" <<'PY'
import collections, json, sys
path, n, hwm, rss, fds, ready, readyz = sys.argv[1:8]
reports = [json.loads(l) for l in open(path) if l.strip()]
probed = len(reports[0]["targets"])
codes = collections.Counter(t["code"] for r in reports for t in r["targets"])
cold, warm = reports[0]["duration_ms"], reports[-1]["duration_ms"]
why = open(readyz).read().strip()
print(f"{n} {hwm} {rss} {fds} {cold} {warm} {probed} {ready} {dict(codes)} {why}")
PY
)
  read -r _ hwm rss fds cold warm probed ready rest <<<"$line"
  log "$n targets: peak RSS $hwm kB, RSS $rss kB, $fds descriptors, cold round $cold ms, warm $warm ms, $probed probed, /readyz $ready"
  printf '%6s targets: peak_rss_kb=%s rss_kb=%s fds=%s cold_round_ms=%s warm_round_ms=%s probed=%s readyz=%s %s\n' \
    "$n" "$hwm" "$rss" "$fds" "$cold" "$warm" "$probed" "$ready" "$rest"
  # The peer: N skopeo inspections, 64 at a time (not for a refused size).
  if [ "$probed" != "$n" ]; then
    results+=("$n $hwm $probed $ready")
    continue
  fi
  t0=$(date +%s%N)
  seq "$n" | xargs -P 64 -I{} skopeo inspect --raw --cert-dir "$work/certs" \
    "docker://127.0.0.1:$rport/bench/app:1" >/dev/null
  skopeo_ms=$((($(date +%s%N) - t0) / 1000000))
  log "$n skopeo inspect --raw, 64 at a time: $skopeo_ms ms"
  printf '%6s targets: agent_cold_round_ms=%s skopeo_ms=%s ratio=%s\n' "$n" "$cold" "$skopeo_ms" \
    "$(python3 -c "print(f'{$cold / max(1, $skopeo_ms):.2f}')")"
  results+=("$n $hwm $probed $ready")
done
log "load after: $(uptime)"

python3 - "$LIMIT" "${results[@]}" <<'PY'
import sys
limit = int(sys.argv[1])
rows = [tuple(r.split()) for r in sys.argv[2:]]
accepted = [(int(n), int(h)) for n, h, probed, ready in rows if int(probed) == int(n)]
refused = [(int(n), int(h), ready) for n, h, probed, ready in rows if int(probed) != int(n)]
(n0, h0), (n1, h1) = accepted[0], accepted[-1]
per = (h1 - h0) / (n1 - n0)
base = h0 - per * n0
at_limit = base + per * limit
ok = lambda b: "yes" if b else "NO"
print(f"per-target peak RSS: {per:.1f} kB ({n0} -> {n1} targets), base {base:.0f} kB")
print(f"goal peak at the limit ({limit}) under half of 64 MiB: {ok(at_limit < 32 * 1024)} ({at_limit:.0f} kB)")
for n, h, ready in refused:
    print(f"goal {n} targets refused, /readyz 503: {ok(n > limit and ready == '503')} (peak {h} kB)")
print(f"targets: per_target_kb={per:.1f} base_kb={base:.0f} limit={limit} peak_kb_at_limit={at_limit:.0f}")
PY
