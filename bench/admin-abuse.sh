#!/usr/bin/env bash
# The agent's admin server under abuse (issue 19): the static binary the
# DaemonSet ships (scripts/static-build), probing a local TLS docker-registry
# every second, while bench/admin_attack.py attacks its admin port on
# loopback: 2,000 idle connections, 300 slowloris clients, 20 clients sending
# 2 MB headers, then all three at once (PHASE seconds each, reopening what
# the server closes). During each: /healthz and /metrics answered (200 within
# 1 s, the kubelet's probe timeout) and their latency, the agent's peak RSS
# and descriptors, and that its rounds kept coming. A Go net/http peer gets
# the same attacks in the same run (/-/healthy and /metrics), for ratios:
# Prometheus blackbox_exporter (Debian's prometheus-blackbox-exporter; a zero
# http.Server: no connection cap, no header timeout) when it is installed,
# else the Prometheus server itself (Debian's prometheus, its defaults:
# --web.max-connections=512, --web.read-timeout=5m). PEER=blackbox or
# PEER=prometheus picks one (blackbox is then installed when missing).
#
# Env: PHASE (10, seconds), PEER.
# Progress on stderr, figures on stdout; the last line is
#   admin_abuse: healthz_ok=1 metrics_ok=1 rss_peak_kb=.. fds_peak=..
# (ok=1: every request of every phase answered 200 within 1 s). Nothing but
# 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
PHASE=${PHASE:-10}

. bench/lib.sh
if [ -z "${PEER:-}" ]; then
  PEER=prometheus
  command -v prometheus-blackbox-exporter >/dev/null 2>&1 && PEER=blackbox
fi
case $PEER in
  blackbox) peer_cmd=prometheus-blackbox-exporter ;;
  prometheus) peer_cmd=prometheus ;;
  *) log "PEER is blackbox or prometheus, not $PEER"; exit 2 ;;
esac
bench_need docker-registry skopeo openssl python3 curl "$peer_cmd=$peer_cmd"
bench_build_static
bench_workdir
# The attacker holds 2,300 sockets and more; the servers raise their own limit.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 4096 ] || { log "ulimit -n is $(ulimit -n): the attacks need 4096"; exit 1; }
log "load before: $(uptime)"

bench_certs abuse.bench
rport=$(bench_free_port)
bench_registry "$rport" "$work/registry"
bench_layout "$work/layout"
bench_push "$work/layout" "$rport" bench/app:1
bench_node_root abuse.bench

lport=$(bench_free_port)
NODE_NAME=bench-abuse bench_spawn "$work/agent.out" "$work/agent.err" "$PROBE" daemon \
  --root "$work/root" --listen "127.0.0.1:$lport" --image "abuse.bench:$rport/bench/app:1" \
  --interval 1s --registry-interval 1s
agent=$!
bench_wait_port "$lport"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lport/readyz" >/dev/null && break; sleep 0.1; done
log "agent ready; attacking it"
rounds_before=$(wc -l <"$work/agent.out")
python3 bench/admin_attack.py agent "$agent" "$lport" /healthz /metrics "$PHASE" | tee "$work/agent.txt"
rounds_after=$(wc -l <"$work/agent.out")
kill -0 "$agent" || { log "the agent died"; tail "$work/agent.err" >&2; exit 1; }
bench_stop_all "$agent"

pport=$(bench_free_port)
if [ "$PEER" = blackbox ]; then
  printf 'modules:\n  http_2xx:\n    prober: http\n' >"$work/blackbox.yml"
  bench_spawn /dev/null "$work/peer.err" prometheus-blackbox-exporter \
    --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$pport"
else
  printf 'global: {scrape_interval: 1m}\n' >"$work/prometheus.yml"
  bench_spawn /dev/null "$work/peer.err" prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:$pport"
fi
peer=$!
bench_wait_port "$pport"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pport/-/healthy" >/dev/null && break; sleep 0.1; done
log "attacking $PEER ($peer_cmd)"
python3 bench/admin_attack.py "$PEER" "$peer" "$pport" /-/healthy /metrics "$PHASE" | tee "$work/peer.txt"
bench_stop_all "$peer"
log "load after: $(uptime)"

python3 - "$work/agent.txt" "$work/peer.txt" "$rounds_before" "$rounds_after" "$PHASE" "$PEER" <<'PY'
import re, sys
def read(path):
    rows = {}
    for line in open(path):
        f = line.split()
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        health = re.match(r"(\d+)/(\d+)", line.split("health=")[1])
        metrics = re.match(r"(\d+)/(\d+)", line.split("metrics=")[1])
        lat = re.findall(r"max_ms=([\d.]+)", line)
        p50 = re.findall(r"p50_ms=([\d.]+)", line)
        rows[f[1]] = dict(health=tuple(map(int, health.groups())), metrics=tuple(map(int, metrics.groups())),
                          rss=int(kv["rss_peak_kb"]), fds=int(kv["fds_peak"]),
                          max_ms=max(map(float, lat)), p50_ms=max(map(float, p50)))
    return rows
agent, bb = read(sys.argv[1]), read(sys.argv[2])
before, after, phase, peer = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
ok = lambda rows, k: int(all(r[k][0] == r[k][1] and r[k][1] > 0 for r in rows.values()))
for p in agent:
    a, b = agent[p], bb[p]
    print(f"{p:9s} agent/{peer}: rss_peak {a['rss']}/{b['rss']} kB ({a['rss'] / max(1, b['rss']):.2f}), "
          f"fds_peak {a['fds']}/{b['fds']} ({a['fds'] / max(1, b['fds']):.2f}), "
          f"worst p50 {a['p50_ms']:.1f}/{b['p50_ms']:.1f} ms, max {a['max_ms']:.1f}/{b['max_ms']:.1f} ms")
rounds = after - before
expected = int(len(agent) * (phase + 3))
print(f"agent rounds during the attacks: {rounds} (about one a second over ~{expected} s)")
print(f"{peer}: healthy_ok={ok(bb, 'health')} metrics_ok={ok(bb, 'metrics')} "
      f"rss_peak_kb={max(r['rss'] for r in bb.values())} fds_peak={max(r['fds'] for r in bb.values())}")
print(f"admin_abuse: healthz_ok={ok(agent, 'health')} metrics_ok={ok(agent, 'metrics')} "
      f"rss_peak_kb={max(r['rss'] for r in agent.values())} fds_peak={max(r['fds'] for r in agent.values())}")
PY
