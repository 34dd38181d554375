#!/usr/bin/env bash
# Benchmarks of the probe against a peer measured in the same run, on loopback only:
#   1. `probe --image` vs `skopeo inspect --raw` on the same local TLS registry
#      (median wall time over repeated runs, ratio);
#   2. 1 vs 50 registries probed in one `probe` run (ratio), showing targets
#      are probed concurrently.
# Needs: docker-registry, skopeo, openssl, hyperfine, python3 (scripts/test installs
# the first ones; this script installs hyperfine if missing). Run as root or not;
# nothing but 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}

. bench/lib.sh
bench_need docker-registry skopeo openssl hyperfine python3
bench_build
bench_workdir

# A CA and a server certificate for 127.0.0.1 and reg1.bench ... reg50.bench.
names=(); for i in $(seq 1 50); do names+=("reg$i.bench"); done
bench_certs "${names[@]}"

port=$(bench_free_port)
bench_registry "$port" "$work/registry"

# A small single-platform OCI image, pushed through the registry's API by skopeo.
bench_layout "$work/layout"
bench_push "$work/layout" "$port" bench/img:1

# The node root the probe reads: the CA in the system bundle, the 50 names pinned in /etc/hosts.
bench_node_root "${names[@]}"

# Sanity: both clients succeed before they are timed. The probe names the
# registry reg1.bench (pinned in the root's /etc/hosts: no DNS query), since
# containerd treats a bare loopback address as plain HTTP; skopeo uses the address.
"$PROBE" --root "$work/root" --image "reg1.bench:$port/bench/img:1" >"$work/sanity.txt" || { cat "$work/sanity.txt"; exit 1; }
skopeo inspect --raw --cert-dir "$work/certs" "docker://127.0.0.1:$port/bench/img:1" >/dev/null

one="--registry reg1.bench:$port"
fifty=""; for i in $(seq 1 50); do fifty="$fifty --registry reg$i.bench:$port"; done

hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/image.json" --style basic \
  -n probe "$PROBE --root $work/root --image reg1.bench:$port/bench/img:1" \
  -n skopeo "skopeo inspect --raw --cert-dir $work/certs docker://127.0.0.1:$port/bench/img:1" >/dev/null
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/fanout.json" --style basic \
  -n one "$PROBE --root $work/root $one" \
  -n fifty "$PROBE --root $work/root $fifty" >/dev/null

python3 - "$work/image.json" "$work/fanout.json" <<'PY'
import json, sys
def medians(path):
    return {r["command"]: r["median"] for r in json.load(open(path))["results"]}
a = medians(sys.argv[1]); b = medians(sys.argv[2])
print(f"probe --image        median {a['probe']*1000:7.1f} ms")
print(f"skopeo inspect --raw median {a['skopeo']*1000:7.1f} ms")
print(f"ratio probe/skopeo          {a['probe']/a['skopeo']:7.2f}")
print(f"probe, 1 registry    median {b['one']*1000:7.1f} ms")
print(f"probe, 50 registries median {b['fifty']*1000:7.1f} ms")
print(f"ratio 50/1                  {b['fifty']/b['one']:7.2f}")
PY
