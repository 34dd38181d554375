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

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
for p in docker-registry skopeo openssl hyperfine python3; do need "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for p in "${missing[@]}"; do case $p in python3) pkgs+=(python3) ;; *) pkgs+=("$p") ;; esac; done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

cargo build --release --quiet
PROBE=$PWD/target/release/probe

work=$(mktemp -d)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# A CA and a server certificate for 127.0.0.1 and reg1.bench ... reg50.bench.
sans="IP:127.0.0.1"
for i in $(seq 1 50); do sans="$sans,DNS:reg$i.bench"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=%s\n' "$sans" > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext" -out "$work/server.crt" 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}, delete: {enabled: true}}
http:
  addr: 127.0.0.1:$port
  tls: {certificate: $work/server.crt, key: $work/server.key}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# A small single-platform OCI image, pushed through the registry's API by skopeo.
python3 - "$work/layout" <<'PY'
import hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    data = b"hello from the bench\n"
    info = tarfile.TarInfo("hello.txt"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
import gzip
layer = dict(blob(gzip.compress(raw.getvalue(), mtime=0)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
diff = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
config = dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json")
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]}).encode()
m = dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json", annotations={"org.opencontainers.image.ref.name": "1"})
json.dump({"schemaVersion": 2, "manifests": [m]}, open(f"{root}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{root}/oci-layout", "w"))
PY
mkdir -p "$work/certs"; cp "$work/ca.crt" "$work/certs/ca.crt"
skopeo copy --quiet --dest-cert-dir "$work/certs" "oci:$work/layout:1" "docker://127.0.0.1:$port/bench/img:1"

# The node root the probe reads: the CA in the system bundle, the 50 names pinned in /etc/hosts.
mkdir -p "$work/root/etc/ssl/certs"
cp "$work/ca.crt" "$work/root/etc/ssl/certs/ca-certificates.crt"
echo "nameserver 127.0.0.1" > "$work/root/etc/resolv.conf"
{ for i in $(seq 1 50); do echo "127.0.0.1 reg$i.bench"; done; } > "$work/root/etc/hosts"

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
