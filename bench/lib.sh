# shellcheck shell=bash
# Shared set-up of the benchmarks (sourced by bench/*.sh, never run): the
# tools, the release build, a work directory cleaned up on exit with every
# process started through it, a bench CA and server certificate, a local TLS
# docker-registry on 127.0.0.1, a small OCI image pushed with skopeo, and a
# node root (the CA in its system bundle, registry names pinned in its
# /etc/hosts). Loopback only: nothing here contacts another machine, except
# apt-get when a tool is missing.

# The repository's root, whatever the caller's directory.
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Processes started by bench_spawn, stopped on exit.
BENCH_PIDS=()
# Extra clean-up a script registers (a function name), run first.
BENCH_ON_EXIT=

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# Install the Debian packages of the missing commands: `bench_need CMD[=PKG] ...`.
bench_need() {
  local want pkgs=()
  for want in "$@"; do
    local cmd=${want%%=*} pkg=${want#*=}
    command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$pkg")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  log "installing ${pkgs[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# `cargo build --release`; sets PROBE. A PROBE given in the environment (another
# build, e.g. with other profile settings) is measured instead, unbuilt.
bench_build() {
  if [ -n "${PROBE:-}" ]; then
    log "measuring $PROBE (not built)"
    return
  fi
  log "cargo build --release"
  (cd "$BENCH_ROOT" && cargo build --release --quiet)
  PROBE=$BENCH_ROOT/target/release/probe
}

# The static binary the Dockerfile ships (scripts/static-build); sets PROBE,
# or measures a PROBE given in the environment, unbuilt.
bench_build_static() {
  if [ -n "${PROBE:-}" ]; then
    log "measuring $PROBE (not built)"
    return
  fi
  log "scripts/static-build (the binary the DaemonSet ships)"
  (cd "$BENCH_ROOT" && scripts/static-build target/static/probe >&2)
  PROBE=$BENCH_ROOT/target/static/probe
}

# Stop every process bench_spawn started (by its id), then remove the work directory.
bench_cleanup() {
  if [ -n "$BENCH_ON_EXIT" ]; then "$BENCH_ON_EXIT" || true; fi
  if [ ${#BENCH_PIDS[@]} -gt 0 ]; then bench_stop_all "${BENCH_PIDS[@]}"; fi
  if [ -n "${work:-}" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$work"; fi
}

# A fresh work directory in $work, removed on exit (kept with BENCH_KEEP=1).
bench_workdir() {
  work=$(mktemp -d)
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Start a command in the background, remembered for clean-up; its id in $!.
# `bench_spawn OUT ERR CMD ARGS...`
bench_spawn() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" &
  BENCH_PIDS+=($!)
}

# Stop processes bench_spawn started, by their ids: TERM, then KILL after 3 s.
bench_stop_all() {
  local pid p keep=() gone=" $* "
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for p in "${BENCH_PIDS[@]}"; do [[ $gone == *" $p "* ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

# A free TCP port on 127.0.0.1.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until 127.0.0.1:PORT accepts a connection (5 s at most).
bench_wait_port() {
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  log "nothing listens on 127.0.0.1:$1"
  return 1
}

# A CA ($work/ca.crt) and a server certificate ($work/server.{crt,key}) for
# 127.0.0.1 and the given DNS names.
bench_certs() {
  local sans="IP:127.0.0.1" name
  for name in "$@"; do sans="$sans,DNS:$name"; done
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$sans" >"$work/ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/ext" -out "$work/server.crt" 2>/dev/null
  mkdir -p "$work/certs"
  cp "$work/ca.crt" "$work/certs/ca.crt"
}

# Start a TLS docker-registry on 127.0.0.1:PORT storing under DIR; its access
# log (one Apache combined line per request, on its stdout) goes to LOG when
# given, else it is disabled.
# `bench_registry PORT DIR [LOG]`
bench_registry() {
  local port=$1 dir=$2 access=${3:-} disabled=true
  [ -n "$access" ] && disabled=false
  mkdir -p "$dir"
  cat >"$dir/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: $disabled}}
storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}
http:
  addr: 127.0.0.1:$port
  tls: {certificate: $work/server.crt, key: $work/server.key}
YML
  bench_spawn "${access:-/dev/null}" "$dir/registry.err" docker-registry serve "$dir/registry.yml"
  bench_wait_port "$port"
}

# A small single-platform OCI image layout in DIR (tag `1`); SALT changes its
# layer, hence its digests.
# `bench_layout DIR [SALT]`
bench_layout() {
  python3 - "$1" "${2:-}" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, salt = sys.argv[1], sys.argv[2]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    data = f"hello from the bench{salt}\n".encode()
    info = tarfile.TarInfo("hello.txt"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
layer = dict(blob(gzip.compress(raw.getvalue(), mtime=0)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
diff = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
config = dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json")
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]}).encode()
m = dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json", annotations={"org.opencontainers.image.ref.name": "1"})
json.dump({"schemaVersion": 2, "manifests": [m]}, open(f"{root}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{root}/oci-layout", "w"))
PY
}

# Push the layout's tag `1` to 127.0.0.1:PORT/REPO:TAG with skopeo.
# `bench_push LAYOUT PORT REPO:TAG`
bench_push() {
  skopeo copy --quiet --dest-cert-dir "$work/certs" "oci:$1:1" "docker://127.0.0.1:$2/$3"
}

# The node root the probe reads ($work/root): the CA in the system bundle,
# the given names pinned to 127.0.0.1 in /etc/hosts (no DNS query).
bench_node_root() {
  local name
  mkdir -p "$work/root/etc/ssl/certs"
  cp "$work/ca.crt" "$work/root/etc/ssl/certs/ca-certificates.crt"
  echo "nameserver 127.0.0.1" >"$work/root/etc/resolv.conf"
  { for name in "$@"; do echo "127.0.0.1 $name"; done; } >"$work/root/etc/hosts"
}
