#!/usr/bin/env bash
# Load simulation (issue 10): a fleet of `probe daemon` agents, one process
# per node (its own NODE_NAME and listen port), against ONE local TLS
# docker-registry on 127.0.0.1 whose access log counts what the fleet costs
# it. Three fleets run one after the other:
#   1. AGENTS agents, no sampling: every node checks every target once per
#      registry interval;
#   2. AGENTS agents with --cluster-size AGENTS: about K nodes per round;
#   3. AGENTS/2 agents with --cluster-size AGENTS/2, to show that the
#      sampled load does not depend on the fleet's size.
# For each, requests per minute and per second over a steady window of
# MINUTES minutes after a warm-up, beside the formula:
#   requests/min = agents x targets x requests-per-check / registry interval
#   sampled:       K x targets x requests-per-check / registry interval
# (requests-per-check measured first by one calibration agent: a warm check
# is one manifest HEAD; a cold one, a node's first, costs more), and the
# peak-second / mean-second ratio of the unsampled fleet.
#
# Env: AGENTS (200), MINUTES (3), INTERVAL (3, seconds), REGISTRY_INTERVAL
# (30, seconds), TARGETS (10 images), K (default: see below).
# Progress on stderr, figures on stdout; the last line is
#   fleet: agents=.. requests_per_min=R formula=F sampled_requests_per_min=S sampled_formula=G peak_to_mean=P
# A missed goal is printed, not fatal. Nothing but 127.0.0.1 is contacted.
# Not part of CI: it loads a 2-core machine for about 4 x (MINUTES + 1) minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${AGENTS:-200}
MINUTES=${MINUTES:-3}
# The defaults (1m local, 15m registry) scaled down, keeping the registry
# interval a multiple of the local one: 200 agents x one local round per 3 s
# is ~70 rounds a second, about 0.8 of a core for agents and registry
# together on this machine (each local round is a TCP connect and a TLS
# handshake per target, on both sides). A 30 s registry interval gives 6
# registry rounds per 3-minute window.
INTERVAL=${INTERVAL:-3}
REGISTRY_INTERVAL=${REGISTRY_INTERVAL:-30}
TARGETS=${TARGETS:-10}
# Long enough for every agent's first (cold) check of every target: the first
# round comes within min(interval, 10 s), the node's phase within one
# registry interval, then the next local round.
WARMUP=${WARMUP:-$((REGISTRY_INTERVAL + 3 * INTERVAL + 5))}
WINDOW=$((MINUTES * 60))
HALF=$((AGENTS / 2))
# K: a sampled node's next share of a target comes one sweep (N/K registry
# rounds, at least floor(N/K)) after its last; in a real fleet that is days,
# long after its token expired, so every sampled check is a cold one. K is
# the largest that keeps it so here too at both sizes (the smaller fleet's
# shortest sweep outlasts warm-up and window plus a round), which also gives
# the most sampled checks to count: the count's noise is about
# 1/sqrt(K x TARGETS x rounds).
K=${K:-$(( HALF / ((WARMUP + WINDOW + REGISTRY_INTERVAL - 1) / REGISTRY_INTERVAL + 1) ))}
[ "$K" -ge 1 ] || K=1

. bench/lib.sh
bench_need docker-registry skopeo openssl python3 curl
bench_build
bench_workdir
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "load before: $(uptime)"

# The registry: TLS, access log on (one line per request, 1 s resolution).
bench_certs reg.bench
port=$(bench_free_port)
bench_registry "$port" "$work/registry" "$work/access.log"
bench_layout "$work/layout"
for i in $(seq "$TARGETS"); do bench_push "$work/layout" "$port" "bench/app$i:1"; done
bench_push "$work/layout" "$port" bench/calibrate:1
bench_node_root reg.bench
{ echo "images:"; for i in $(seq "$TARGETS"); do echo "  - reg.bench:$port/bench/app$i:1"; done; } >"$work/targets.yml"
echo "images: [reg.bench:$port/bench/calibrate:1]" >"$work/calibrate.yml"

lines() { wc -l <"$work/access.log"; }

# Calibration: what one check of one image costs the registry, cold (an
# agent's first) and warm (token and digest remembered).
calibrate() {
  local rounds=$1 before lp
  before=$(lines)
  lp=$(bench_free_port)
  NODE_NAME=bench-calibrate "$PROBE" daemon --root "$work/root" --listen "127.0.0.1:$lp" \
    --interval 200ms --registry-interval 200ms --max-rounds "$rounds" \
    --targets "$work/calibrate.yml" >"$work/calibrate.out" 2>"$work/calibrate.err" || {
    cat "$work/calibrate.err" >&2
    exit 1
  }
  if ! grep -q '"status":"ok"' "$work/calibrate.out"; then
    log "the calibration agent found no healthy image:"
    cat "$work/calibrate.out" "$work/calibrate.err" >&2
    exit 1
  fi
  sleep 0.5
  echo $(($(lines) - before))
}
one=$(calibrate 1)
three=$(calibrate 3)
COLD=$one
WARM=$(((three - one) / 2))
if [ "$COLD" -lt 1 ] || [ "$WARM" -lt 1 ]; then
  log "calibration failed: cold=$COLD warm=$WARM"
  exit 1
fi
log "one check costs the registry $COLD requests cold, $WARM warm"

# 200 free ports on 127.0.0.1 for the agents' admin servers.
ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# The agents' own counters, summed: registry requests and rounds by kind.
scrape() {
  python3 - "$@" <<'PY'
import concurrent.futures, re, sys, urllib.request
def one(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return None
    got = {"requests": 0.0, "local": 0.0, "registry": 0.0}
    for line in text.splitlines():
        m = re.match(r'regprobe_registry_requests_total\{[^}]*\} (\S+)', line)
        if m: got["requests"] += float(m.group(1))
        m = re.match(r'regprobe_rounds_total\{kind="(\w+)"\} (\S+)', line)
        if m: got[m.group(1)] = float(m.group(2))
    return got
with concurrent.futures.ThreadPoolExecutor(32) as ex:
    res = list(ex.map(one, sys.argv[1:]))
ok = [r for r in res if r]
print(len(ok), sum(r["requests"] for r in ok), sum(r["local"] for r in ok), sum(r["registry"] for r in ok))
PY
}

# One fleet: `fleet NAME N [daemon flags...]`; leaves $work/NAME.json.
fleet() {
  local name=$1 n=$2 i pids=() p t0 t1 m0 m1 start
  shift 2
  read -r -a plist <<<"$(ports "$n")"
  log "$name: starting $n agents $*"
  start=$(date +%s)
  for i in $(seq 0 $((n - 1))); do
    p=${plist[$i]}
    NODE_NAME=$(printf 'bench-node-%04d' "$i") bench_spawn /dev/null "$work/$name.agent$i.err" \
      "$PROBE" daemon --root "$work/root" --listen "127.0.0.1:$p" --targets "$work/targets.yml" \
      --interval "${INTERVAL}s" --registry-interval "${REGISTRY_INTERVAL}s" "$@"
    pids+=($!)
  done
  # The window starts on a whole second, WARMUP after the first agent.
  sleep "$(python3 -c "print(max(0, $start + $WARMUP - $(date +%s)))")"
  t0=$(($(date +%s) + 1))
  sleep "$(python3 -c "import time; print(max(0, $t0 - time.time()))")"
  m0=$(scrape "${plist[@]}")
  log "$name: window $WINDOW s from $(date -d "@$t0" +%T) (load $(cut -d' ' -f1-3 /proc/loadavg))"
  sleep "$WINDOW"
  t1=$((t0 + WINDOW))
  m1=$(scrape "${plist[@]}")
  bench_stop_all "${pids[@]}"
  local errors
  errors=$(cat "$work/$name".agent*.err | grep -c '"level":"ERROR"' || true)
  python3 - "$work/access.log" "$t0" "$t1" "$m0" "$m1" "$errors" >"$work/$name.json" <<'PY'
import datetime, json, re, sys
log, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m0, m1 = [list(map(float, a.split())) for a in sys.argv[4:6]]
line_re = re.compile(r'^\S+ \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d+)')
per_second = [0] * (t1 - t0)
kinds, bad = {}, 0
for line in open(log, errors="replace"):
    m = line_re.match(line)
    if not m:
        continue
    t = int(datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").timestamp())
    if not t0 <= t < t1:
        continue
    per_second[t - t0] += 1
    method, path, status = m.group(2), m.group(3), int(m.group(4))
    if path == "/v2/":
        kind = "ping"
    elif "/manifests/sha256:" in path:
        kind = f"{method} manifest by digest"
    elif "/manifests/" in path:
        kind = f"{method} manifest by tag"
    elif "/blobs/" in path:
        kind = f"{method} blob"
    else:
        kind = f"{method} other"
    kinds[kind] = kinds.get(kind, 0) + 1
    bad += status >= 400
total = sum(per_second)
json.dump({
    "total": total, "seconds": t1 - t0, "per_second": per_second, "kinds": kinds,
    "errors_status": bad, "agent_errors": int(sys.argv[6]),
    "agents_scraped": [int(m0[0]), int(m1[0])],
    "agent_requests": m1[1] - m0[1],
    "local_rounds": m1[2] - m0[2], "registry_rounds": m1[3] - m0[3],
}, sys.stdout)
PY
  log "$name: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["total"], "requests in", d["seconds"], "s;", d["kinds"])' "$work/$name.json")"
}

fleet unsampled "$AGENTS"
fleet sampled "$AGENTS" --cluster-size "$AGENTS" --registry-probes-per-round "$K"
fleet sampled-half "$HALF" --cluster-size "$HALF" --registry-probes-per-round "$K"
log "load after: $(uptime)"

python3 - "$work" "$AGENTS" "$HALF" "$TARGETS" "$K" "$INTERVAL" "$REGISTRY_INTERVAL" "$COLD" "$WARM" <<'PY'
import json, math, sys
work = sys.argv[1]
agents, half, targets, k, interval, ri, cold, warm = map(int, sys.argv[2:10])
ri_min = ri / 60
def load(name):
    return json.load(open(f"{work}/{name}.json"))
def per_min(d):
    return d["total"] / (d["seconds"] / 60)
def peak_to_mean(d):
    mean = d["total"] / d["seconds"]
    return max(d["per_second"]) / mean if mean else float("nan")
def poisson_peak(mean, n):
    """The expected busiest second of n seconds of a Poisson process at `mean` a second, over the mean."""
    if mean <= 0:
        return float("nan")
    cdf, term, k_, expected = 0.0, math.exp(-mean), 0, 0.0
    while True:
        cdf += term
        tail = 1 - cdf ** n
        expected += tail
        k_ += 1
        term *= mean / k_
        if tail < 1e-9 and k_ > mean:
            return expected / mean
u, s, h = load("unsampled"), load("sampled"), load("sampled-half")
R, F = per_min(u), agents * targets * warm / ri_min
S, G = per_min(s), k * targets * cold / ri_min
S2, G2 = per_min(h), G
P = peak_to_mean(u)
def ok(b):
    return "yes" if b else "NO"
def show(label, d, n, got, formula, how):
    per_check = warm if how.startswith(";") else cold
    print(f"{label}: {n} agents, {targets} image targets, interval {interval}s, registry interval {ri}s{how}")
    print(f"  registry received {d['total']} requests in {d['seconds']} s: {got:.1f}/min, {got/60:.2f}/s "
          f"(busiest second {max(d['per_second'])}, peak/mean {peak_to_mean(d):.2f}; "
          f"checks arriving as a Poisson process at that rate: {poisson_peak(d['total']/per_check/d['seconds'], d['seconds']):.2f})")
    print(f"  by kind: " + ", ".join(f"{v} {k_}" for k_, v in sorted(d["kinds"].items(), key=lambda x: -x[1])))
    print(f"  formula {formula:.1f}/min; measured/formula {got/formula:.3f}")
    checks = d["kinds"].get("HEAD manifest by tag", 0) / (d["seconds"] / 60)
    print(f"  checks (one manifest HEAD by tag each): {checks:.1f}/min, formula {formula/per_check:.1f}/min, "
          f"measured/formula {checks/(formula/per_check):.3f}")
    print(f"  the agents' own count (regprobe_registry_requests_total, {d['agents_scraped'][1]} scraped): "
          f"{d['agent_requests']:.0f}; rounds: {d['local_rounds']:.0f} local, {d['registry_rounds']:.0f} with registry checks")
    if d["errors_status"] or d["agent_errors"]:
        print(f"  errors: {d['errors_status']} responses >= 400, {d['agent_errors']} agent ERROR events")
print(f"one check of one image: {cold} requests cold (an agent's first), {warm} warm")
show("unsampled", u, agents, R, F, f"; formula = {agents} x {targets} x {warm} warm / {ri_min:g} min")
show("sampled", s, agents, S, G, f", --cluster-size {agents} K={k}; formula = {k} x {targets} x {cold} cold / {ri_min:g} min")
show("sampled, half", h, half, S2, G2, f", --cluster-size {half} K={k}; same formula")
print(f"goal R within 10% of F: {ok(abs(R/F-1) <= 0.1)} ({R/F:.3f})")
print(f"goal S within 10% of G: {ok(abs(S/G-1) <= 0.1)} ({S/G:.3f}); at {half} agents {ok(abs(S2/G-1) <= 0.1)} ({S2/G:.3f})")
print(f"goal S independent of AGENTS: {ok(abs(S/S2-1) <= 0.1)} (S at {agents} / S at {half} = {S/S2:.3f})")
print(f"goal peak_to_mean <= 3: {ok(P <= 3)} ({P:.2f})")
print(f"fleet: agents={agents} requests_per_min={R:.1f} formula={F:.1f} sampled_requests_per_min={S:.1f} "
      f"sampled_formula={G:.1f} peak_to_mean={P:.2f}")
PY
