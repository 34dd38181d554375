# syntax=docker/dockerfile:1
#
# The probe image: one static binary on distroless/static.
#
#   docker build -t ghcr.io/regprobe/probe:0.1.0 .
#
# The binary is built by scripts/static-build, the same script CI runs and
# checks (scripts/test: statically linked, runs from an empty directory with
# an empty environment, opens no NSS file or shared library).

ARG RUST_VERSION=1.95

# --- build: Debian's glibc, linked in statically (crt-static) -------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep crates.io downloads and the target directory between
# builds; the binary is copied out of the cached target directory to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/static-build /out/probe

# --- runtime --------------------------------------------------------------
# distroless/static rather than scratch: it adds about 2 MB and brings what
# the probe uses when it is NOT given --root /host (run as a plain pod, or
# `docker run`): a CA bundle at /etc/ssl/certs/ca-certificates.crt (scratch
# has none, so every registry would be TLS_UNTRUSTED), /etc/passwd and
# /etc/group with the `nonroot` user (65532), /tmp and tzdata. It has no
# shell and no libc, which the static binary does not need. With --root
# /host, as in daemonset.yaml and `kubectl debug node`, every file the probe
# reads (CAs, resolv.conf, runtime configs) is the node's, not the image's.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="regprobe" \
      org.opencontainers.image.description="Ends the guessing behind ImagePullBackOff: probes container registries from the node, the way its runtime would." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/regprobe/regprobe" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

# On PATH, so that `kubectl debug node/NODE --image=... -- probe --root /host
# ...` finds it: kubectl debug puts the words after `--` in the container's
# command, not its args.
COPY --from=build /out/probe /usr/local/bin/probe

# Non-root by default (distroless's `nonroot`). daemonset.yaml runs it as
# root (runAsUser: 0) with every capability dropped, because the node files
# that hold pull credentials are readable by root only: the kubelet's
# /var/lib/kubelet/config.json, /etc/kubernetes/azure.json, containerd's
# config.toml with `auth` entries, k3s registries.yaml.
USER 65532:65532

EXPOSE 9808
ENTRYPOINT ["/usr/local/bin/probe"]
CMD ["daemon"]
