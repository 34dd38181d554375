#!/usr/bin/env bash
# Soak (issue 10): one `probe daemon` (the static binary the DaemonSet ships,
# scripts/static-build) at a very short interval (every round a
# registry round) against two local TLS registries on 127.0.0.1, a healthy
# docker-registry and a flapping one (bench/flapping_registry.py: ok, 503, ok,
# 429 with Retry-After, ok, not listening; PERIOD seconds each), until ROUNDS
# rounds are done (regprobe_rounds_total on /metrics). It samples the agent's
# RSS (VmRSS) and open descriptors after a warm-up of WARMUP_ROUNDS rounds and
# at the end, its CPU per round (utime + stime over the rounds between), and
# in the same run Prometheus blackbox_exporter's idle RSS.
#
# Env: ROUNDS (2000), INTERVAL (100ms), WARMUP_ROUNDS (100), PERIOD (3, seconds).
# Progress on stderr, figures on stdout; the last line is
#   soak: rounds=N rss_start_kb=A rss_end_kb=B fds_start=C fds_end=D cpu_ms_per_round=E blackbox_idle_rss_kb=F
# A missed goal is printed, not fatal. Nothing but 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2000}
INTERVAL=${INTERVAL:-100ms}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-100}
PERIOD=${PERIOD:-3}

. bench/lib.sh
bench_need docker-registry skopeo openssl python3 curl prometheus-blackbox-exporter
bench_build_static
bench_workdir
log "load before: $(uptime)"
TICK=$(getconf CLK_TCK)

bench_certs healthy.bench flapping.bench
hport=$(bench_free_port)
bench_registry "$hport" "$work/registry"
bench_layout "$work/layout"
bench_push "$work/layout" "$hport" bench/app:1
fport=$(bench_free_port)
bench_spawn /dev/null "$work/flapping.err" python3 bench/flapping_registry.py \
  "$fport" "$work/server.crt" "$work/server.key" "$work/layout" bench/app "$PERIOD"
sleep 1
kill -0 $! 2>/dev/null || { log "the flapping registry did not start:"; cat "$work/flapping.err" >&2; exit 1; }
bench_node_root healthy.bench flapping.bench
cat >"$work/targets.yml" <<YML
images:
  - healthy.bench:$hport/bench/app:1
  - flapping.bench:$fport/bench/app:1
YML

# blackbox_exporter, idle: a minimal config, a loopback port, a few seconds.
bport=$(bench_free_port)
printf 'modules:\n  http_2xx:\n    prober: http\n' >"$work/blackbox.yml"
bench_spawn /dev/null "$work/blackbox.err" prometheus-blackbox-exporter \
  --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bport"
blackbox_pid=$!
bench_wait_port "$bport"
sleep 5
blackbox_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$blackbox_pid/status")
blackbox_split=$(awk '/^Rss(Anon|File):/ {printf "%s %s kB ", $1, $2}' "/proc/$blackbox_pid/status")
bench_stop_all "$blackbox_pid"
log "blackbox_exporter idle RSS: $blackbox_rss kB ($blackbox_split)"

lport=$(bench_free_port)
NODE_NAME=bench-soak bench_spawn "$work/agent.out" "$work/agent.err" "$PROBE" daemon \
  --root "$work/root" --listen "127.0.0.1:$lport" --targets "$work/targets.yml" \
  --interval "$INTERVAL" --registry-interval "$INTERVAL"
agent=$!

# Rounds done: the two kinds are disjoint (kind="registry" when a registry
# check ran, else kind="local"), so their sum counts every round.
rounds() {
  { curl -sf "http://127.0.0.1:$lport/metrics" 2>/dev/null || true; } |
    awk '/^regprobe_rounds_total\{kind="(local|registry)"\}/ {n += $2} END {print n + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$agent/status"; }
rss_split() { awk '/^Rss(Anon|File):/ {printf "%s %s kB ", $1, $2}' "/proc/$agent/status"; }
# Descriptors between rounds: the fewest of 20 looks 50 ms apart (a round in
# flight holds a socket per target for a few milliseconds).
fds() {
  local n min=
  for _ in $(seq 20); do
    n=$(find "/proc/$agent/fd" -mindepth 1 -maxdepth 1 | wc -l)
    if [ -z "$min" ] || [ "$n" -lt "$min" ]; then min=$n; fi
    sleep 0.05
  done
  echo "$min"
}
# Wait until at least N rounds are done; prints the count.
wait_rounds() {
  local n=0 since
  since=$(date +%s)
  while :; do
    kill -0 "$agent" 2>/dev/null || { log "the agent died:"; tail -5 "$work/agent.err" >&2; exit 1; }
    n=$(rounds)
    [ "$n" -ge "$1" ] && { echo "$n"; return; }
    if [ $(($(date +%s) - since)) -ge 30 ]; then log "$n rounds done"; since=$(date +%s); fi
    sleep 0.5
  done
}
sample() {
  local r c s f
  r=$(rounds); c=$(cpu_ticks); s=$(rss_kb); f=$(fds)
  echo "$r $c $s $f"
}

log "agent started; warm-up of $WARMUP_ROUNDS rounds"
wait_rounds "$WARMUP_ROUNDS" >/dev/null
read -r r0 c0 rss0 fd0 <<<"$(sample)"
cp "/proc/$agent/smaps_rollup" "$work/smaps.start" 2>/dev/null || true
split0=$(rss_split)
log "after $r0 rounds: RSS $rss0 kB ($split0), $fd0 descriptors; soaking to $ROUNDS rounds"
mid=$(((r0 + ROUNDS) / 2))
wait_rounds "$mid" >/dev/null
read -r rm_ cm rssm fdm <<<"$(sample)"
log "after $rm_ rounds: RSS $rssm kB, $fdm descriptors"
wait_rounds "$ROUNDS" >/dev/null
read -r r1 c1 rss1 fd1 <<<"$(sample)"
split1=$(rss_split)
cp "/proc/$agent/smaps_rollup" "$work/smaps.end" 2>/dev/null || true
curl -sf "http://127.0.0.1:$lport/metrics" >"$work/metrics.end"
bench_stop_all "$agent"
log "load after: $(uptime)"

cpu_ms=$(python3 -c "print(f'{($c1 - $c0) * 1000 / $TICK / max(1, $r1 - $r0):.2f}')")
log "CPU per round: $(python3 -c "print(f'{($cm - $c0) * 1000 / $TICK / max(1, $rm_ - $r0):.2f} ms over rounds $r0-$rm_, {($c1 - $cm) * 1000 / $TICK / max(1, $r1 - $rm_):.2f} ms over rounds $rm_-$r1')")"
python3 - "$work" "$r0" "$r1" "$rss0" "$rssm" "$rss1" "$fd0" "$fdm" "$fd1" "$cpu_ms" "$blackbox_rss" \
  "$split0" "$split1" "$blackbox_split" <<'PY'
import collections, json, re, sys
work = sys.argv[1]
r0, r1, rss0, rssm, rss1, fd0, fdm, fd1 = map(int, sys.argv[2:10])
cpu_ms, bb = float(sys.argv[10]), int(sys.argv[11])
codes = collections.Counter()
for line in open(f"{work}/agent.out"):
    try:
        report = json.loads(line)
    except ValueError:
        continue
    for t in report.get("targets", []):
        codes[(t.get("image", "").split("/")[0].split(".")[0], t.get("code"))] += 1
metrics = open(f"{work}/metrics.end").read()
print(f"rounds {r0} (after warm-up) -> {r1}; RSS {rss0} -> {rssm} -> {rss1} kB; "
      f"descriptors {fd0} -> {fdm} -> {fd1}; CPU {cpu_ms} ms per round")
print(f"agent RSS at the start: {sys.argv[12]}; at the end: {sys.argv[13]}")
print(f"blackbox_exporter idle: {sys.argv[14]}")
print("verdicts by target over the run: " + ", ".join(f"{t} {c}: {n}" for (t, c), n in sorted(codes.items())))
for m in re.findall(r"^regprobe_(?:rounds_total|registry_requests_total)\S* \S+$", metrics, re.M):
    print("  " + m)
print(f"blackbox_exporter idle RSS {bb} kB")
ok = lambda b: "yes" if b else "NO"
print(f"goal rss_end <= rss_start + 1024 kB: {ok(rss1 <= rss0 + 1024)} ({rss1 - rss0:+d} kB)")
print(f"goal fds_end = fds_start: {ok(fd1 == fd0)} ({fd0} -> {fd1})")
print(f"goal rss_end < blackbox idle / 2: {ok(rss1 < bb / 2)} ({rss1} vs {bb / 2:.0f} kB)")
print(f"soak: rounds={r1} rss_start_kb={rss0} rss_end_kb={rss1} fds_start={fd0} fds_end={fd1} "
      f"cpu_ms_per_round={cpu_ms} blackbox_idle_rss_kb={bb}")
PY
