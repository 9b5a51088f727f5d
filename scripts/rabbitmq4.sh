#!/usr/bin/env bash
# RabbitMQ 4.x test brokers, each in its own Debian chroot beside the machine's
# own broker (which this script never touches).
#
#   scripts/rabbitmq4.sh setup  [VERSION]   build the chroot once (if missing)
#   scripts/rabbitmq4.sh start  [VERSION]   setup if needed, start, wait for AMQP
#   scripts/rabbitmq4.sh stop   [VERSION]
#   scripts/rabbitmq4.sh status [VERSION]   exit 0 if the broker answers AMQP
#   scripts/rabbitmq4.sh url    [VERSION]   amqp://guest:guest@127.0.0.1:PORT
#   scripts/rabbitmq4.sh ctl    [VERSION] ARGS...   that broker's rabbitmqctl
#
# VERSION is 4.0 (Debian 13 trixie, the default) or 4.3 (Debian testing).
# Chroots live in ${WQ_BROKER_ROOT:-/var/lib/wq-test-brokers}/rabbitmq-VERSION.
# Needs root (debootstrap, chroot, mount).
set -euo pipefail

ROOT=${WQ_BROKER_ROOT:-/var/lib/wq-test-brokers}
STEP=''
LOG=''

say() { printf 'rabbitmq4: %s\n' "$*" >&2; }
step() { STEP=$1; say "$1"; }
die() { say "FAILED: $*"; exit 1; }
on_err() {
  local rc=$?
  if [[ -n $LOG && -s $LOG ]]; then tail -n 15 "$LOG" >&2 || true; fi
  say "FAILED (exit $rc) while ${STEP:-running}${LOG:+ (log: $LOG)}"
  exit "$rc"
}

# --- per-version settings ---------------------------------------------------
pick_version() {
  VERSION=$1
  case $VERSION in
    4.0) SUITE=trixie;  AMQP_PORT=5673; EPMD_PORT=4373; DIST_PORT=25673
         CTL_PORT_MIN=35700; UID_GID=940 ;;
    4.3) SUITE=testing; AMQP_PORT=5674; EPMD_PORT=4374; DIST_PORT=25674
         CTL_PORT_MIN=35720; UID_GID=943 ;;
    *) die "unknown version '$VERSION' (known: 4.0, 4.3)" ;;
  esac
  NODE=rabbit${VERSION//./}@localhost
  DIR=$ROOT/rabbitmq-$VERSION
  TMP=$ROOT/.rabbitmq-$VERSION.building
}

# Environment for anything run inside the chroot (the broker and its CLI).
chroot_env() {
  printf '%s\n' \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/rabbitmq LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME="$NODE" RABBITMQ_DIST_PORT="$DIST_PORT" \
    RABBITMQ_CTL_DIST_PORT_MIN="$CTL_PORT_MIN" RABBITMQ_CTL_DIST_PORT_MAX=$((CTL_PORT_MIN + 19))
}

# In chroot $1, as the broker's user, run the rest.
as_broker() {
  local dir=$1; shift
  local envs; mapfile -t envs < <(chroot_env)
  chroot --userspec="$UID_GID:$UID_GID" "$dir" /usr/bin/env -i "${envs[@]}" "$@"
}

# --- mounts -----------------------------------------------------------------
mount_all() {
  local dir=$1
  mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
  mountpoint -q "$dir/dev" || mount --bind /dev "$dir/dev"
}

umount_all() {
  local dir=$1 m
  for m in "$dir/dev" "$dir/proc"; do
    while mountpoint -q "$m"; do umount "$m" || return 1; done
  done
}

# True when nothing is mounted at or below $1.
nothing_mounted_under() {
  ! awk -v d="$1" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
    /proc/self/mountinfo
}

# --- AMQP probe -------------------------------------------------------------
# The broker answers the AMQP 0-9-1 protocol header with a method frame
# (frame type 1, connection.start).
answers() {
  local first
  first=$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$AMQP_PORT"' || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 1 <&3 | od -An -tx1' 2>/dev/null) || return 1
  [[ ${first// /} == 01 ]]
}

# The broker's configuration; written by setup and again by each start, so an
# existing chroot follows this script.
write_config() {
  local dir=$1
  mkdir -p "$dir/etc/rabbitmq"
  cat >"$dir/etc/rabbitmq/rabbitmq.conf" <<EOF
# wq test broker $VERSION: AMQP on 127.0.0.1:$AMQP_PORT only; 4.x defaults otherwise.
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
collect_statistics_interval = 500
# Deprecated features are refused, so a test that used one would fail here (4.3 refuses global QoS by default).
deprecated_features.permit.transient_nonexcl_queues = false
deprecated_features.permit.global_qos = false
EOF
  # Quorum queues publish the counts that list_queues shows once per tick, 5 s
  # by default; tests read them, so tick every 500 ms.
  echo '[{rabbit, [{quorum_tick_interval, 500}]}].' >"$dir/etc/rabbitmq/advanced.config"
  echo '[].' >"$dir/etc/rabbitmq/enabled_plugins"
  cat >"$dir/etc/rabbitmq/rabbitmq-env.conf" <<EOF
NODENAME=$NODE
DIST_PORT=$DIST_PORT
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
EOF
  install -d -o "$UID_GID" -g "$UID_GID" -m 755 "$dir/var/lib/rabbitmq" "$dir/var/log/rabbitmq"
  local cookie=$dir/var/lib/rabbitmq/.erlang.cookie c='' i
  [[ -s $cookie ]] && return 0
  for ((i = 0; i < 20; i++)); do c+=$(printf "\\$(printf %o $((65 + (RANDOM ^ SRANDOM) % 26)))"); done
  (umask 077; printf '%s' "$c" >"$cookie")
  chown "$UID_GID:$UID_GID" "$cookie"
  chmod 400 "$cookie"
}

# --- setup ------------------------------------------------------------------
host_mirror() {
  local m
  m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -Eo 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n 1 | tr -d ' ') || true
  printf '%s\n' "${m:-http://deb.debian.org/debian/}"
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  step "installing debootstrap on the host"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >>"$LOG" 2>&1; then
    step "running apt-get update on the host"
    apt-get update -q >>"$LOG" 2>&1
    step "installing debootstrap on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >>"$LOG" 2>&1
  fi
}

cleanup_tmp() {
  [[ -e $TMP ]] || return 0
  step "removing an unfinished build ($TMP)"
  umount_all "$TMP"
  nothing_mounted_under "$TMP" || die "something is still mounted under $TMP; not removing it"
  rm -rf --one-file-system "$TMP"
}

do_setup() {
  [[ -x $DIR/usr/lib/rabbitmq/bin/rabbitmq-server ]] && return 0
  [[ $(id -u) == 0 ]] || die "setup needs root (debootstrap, chroot, mount)"
  mkdir -p "$ROOT"
  LOG=$ROOT/rabbitmq-$VERSION.setup.log
  : >"$LOG"
  trap on_err ERR
  cleanup_tmp
  ensure_debootstrap

  local mirror script=''
  mirror=$(host_mirror)
  # debootstrap has no script named after the testing suite on every host; sid's fits.
  [[ $SUITE == testing ]] && script=/usr/share/debootstrap/scripts/sid
  step "building the Debian $SUITE chroot from $mirror (about a minute)"
  debootstrap --variant=minbase "$SUITE" "$TMP" "$mirror" $script >>"$LOG" 2>&1

  step "configuring apt, users and hosts in the chroot"
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$TMP/etc/apt/sources.list"
  cat >"$TMP/etc/apt/apt.conf.d/99wq" <<'EOF'
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
APT::Install-Recommends "false";
EOF
  printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
  chmod 755 "$TMP/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
  grep -qE '^127\.0\.0\.1[[:space:]]+(.*[[:space:]])?localhost([[:space:]]|$)' "$TMP/etc/hosts" 2>/dev/null \
    || echo '127.0.0.1 localhost' >>"$TMP/etc/hosts"
  # A fixed uid of our own, so the broker's files and processes never belong to
  # the host's rabbitmq user (or any other host account).
  chroot "$TMP" groupadd --system -g "$UID_GID" rabbitmq
  chroot "$TMP" useradd --system -u "$UID_GID" -g "$UID_GID" -d /var/lib/rabbitmq \
    -s /usr/sbin/nologin -c 'RabbitMQ messaging server' rabbitmq

  mount_all "$TMP"
  step "installing rabbitmq-server in the chroot (about 20 s)"
  chroot "$TMP" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$LOG" 2>&1
  chroot "$TMP" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >>"$LOG" 2>&1
  chroot "$TMP" apt-get clean
  umount_all "$TMP"

  write_config "$TMP"
  chroot "$TMP" dpkg-query -W -f='${Version}\n' rabbitmq-server >"$TMP/etc/rabbitmq/wq-package-version"

  nothing_mounted_under "$TMP" || die "mounts left under $TMP"
  mv "$TMP" "$DIR"
  say "chroot ready: $DIR (rabbitmq-server $(cat "$DIR/etc/rabbitmq/wq-package-version"))"
  trap - ERR
}

# --- start / stop -----------------------------------------------------------
do_start() {
  if answers; then say "$VERSION already answers on 127.0.0.1:$AMQP_PORT"; return 0; fi
  do_setup
  [[ $(id -u) == 0 ]] || die "start needs root (chroot, mount)"
  LOG=$DIR/var/log/rabbitmq/wq-start.log
  trap on_err ERR
  write_config "$DIR"
  step "mounting /proc and /dev in $DIR"
  mount_all "$DIR"
  step "starting RabbitMQ $VERSION ($NODE, AMQP 127.0.0.1:$AMQP_PORT)"
  : >"$LOG"
  chown "$UID_GID:$UID_GID" "$LOG"
  local envs; mapfile -t envs < <(chroot_env)
  setsid chroot --userspec="$UID_GID:$UID_GID" "$DIR" /usr/bin/env -i "${envs[@]}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server </dev/null >>"$LOG" 2>&1 9>&- &
  local pid=$! t0=$SECONDS
  step "waiting for an AMQP handshake on 127.0.0.1:$AMQP_PORT (at most 90 s)"
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      trap - ERR
      tail -n 15 "$LOG" >&2 || true
      die "RabbitMQ $VERSION exited during start (log: $LOG and $DIR/var/log/rabbitmq/)"
    fi
    if (( SECONDS - t0 >= 90 )); then
      trap - ERR
      die "RabbitMQ $VERSION did not answer AMQP on 127.0.0.1:$AMQP_PORT within 90 s (log: $LOG)"
    fi
    sleep 0.5
  done
  trap - ERR
  say "RabbitMQ $VERSION answers on 127.0.0.1:$AMQP_PORT after $((SECONDS - t0)) s"
}

do_stop() {
  [[ -d $DIR ]] || { say "$VERSION is not set up; nothing to stop"; return 0; }
  if [[ -e $DIR/proc/self ]] || mount_all "$DIR"; then :; fi
  if answers || as_broker "$DIR" /usr/lib/rabbitmq/bin/rabbitmqctl -q ping >/dev/null 2>&1; then
    step "stopping RabbitMQ $VERSION"
    as_broker "$DIR" /usr/lib/rabbitmq/bin/rabbitmqctl -q stop >/dev/null 2>&1 || true
  fi
  # Wait for the VM itself to end, not just its listener (uid $UID_GID is this broker's alone).
  local t0=$SECONDS
  while answers || pgrep -u "$UID_GID" -x beam.smp >/dev/null; do
    if (( SECONDS - t0 >= 30 )); then
      say "RabbitMQ $VERSION still running 30 s after stop; ending it"
      pkill -KILL -u "$UID_GID" -x beam.smp || true
      sleep 1
      break
    fi
    sleep 0.3
  done
  # The node's own epmd (on port $EPMD_PORT) outlives it; end it too.
  as_broker "$DIR" epmd -kill >/dev/null 2>&1 || true
  sleep 0.2
  umount_all "$DIR" 2>/dev/null || say "left /proc or /dev mounted in $DIR (still in use)"
  say "RabbitMQ $VERSION stopped"
}

# --- main -------------------------------------------------------------------
cmd=${1:-}
[[ -n $cmd ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
shift
ver=4.0
if [[ ${1:-} =~ ^[0-9]+\.[0-9]+$ ]]; then ver=$1; shift; fi
pick_version "$ver"

case $cmd in
  ctl)
    # Hot path for tests: no locking, no messages; exactly rabbitmqctl's output and exit code.
    [[ -e $DIR/proc/self ]] || mount_all "$DIR" >/dev/null 2>&1 || true
    [[ -x $DIR/usr/lib/rabbitmq/bin/rabbitmqctl ]] || die "$VERSION is not set up (run: $0 setup $VERSION)"
    envs=(); mapfile -t envs < <(chroot_env)
    exec chroot --userspec="$UID_GID:$UID_GID" "$DIR" /usr/bin/env -i "${envs[@]}" \
      /usr/lib/rabbitmq/bin/rabbitmqctl "$@"
    ;;
  url) echo "amqp://guest:guest@127.0.0.1:$AMQP_PORT" ;;
  status)
    if answers; then say "$VERSION answers on 127.0.0.1:$AMQP_PORT"; exit 0; fi
    say "$VERSION does not answer on 127.0.0.1:$AMQP_PORT"; exit 1
    ;;
  setup|start|stop)
    # The quick no-op, before taking the lock.
    if [[ $cmd == start ]] && answers; then say "$VERSION already answers on 127.0.0.1:$AMQP_PORT"; exit 0; fi
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock-$VERSION"
    flock 9
    case $cmd in
      setup) do_setup ;;
      start) do_start ;;
      stop) do_stop ;;
    esac
    ;;
  *) die "unknown command '$cmd' (setup, start, stop, status, url, ctl)" ;;
esac
