#!/usr/bin/env bash
# A 3-node RabbitMQ 4.3 cluster on this machine, for the cluster tests (test/cluster/).
#
#   scripts/rabbitmq-cluster.sh start            start the three nodes and join them (idempotent)
#   scripts/rabbitmq-cluster.sh stop             stop all three, end their epmd, unmount
#   scripts/rabbitmq-cluster.sh status           exit 0 when all three answer AMQP and run as one cluster
#   scripts/rabbitmq-cluster.sh url [N]          amqp://guest:guest@127.0.0.1:568N (N = 1..3, default 1)
#   scripts/rabbitmq-cluster.sh urls             the three URLs, comma-separated (a --url list)
#   scripts/rabbitmq-cluster.sh ctl N ARGS...    rabbitmqctl -n wqcN@localhost ARGS (its output and exit code)
#   scripts/rabbitmq-cluster.sh stop-node N      stop node N gracefully (its VM ends; the others go on)
#   scripts/rabbitmq-cluster.sh start-node N     start node N again and wait for AMQP
#   scripts/rabbitmq-cluster.sh kill-node N      kill -9 node N's Erlang VM (a crash)
#   scripts/rabbitmq-cluster.sh restart-node N   stop-node N, then start-node N
#
# It runs the RabbitMQ 4.3 package of the Debian testing chroot that scripts/rabbitmq4.sh builds
# (${WQ_BROKER_ROOT:-/var/lib/wq-test-brokers}/rabbitmq-4.3; built here through that script if
# missing), seen through a private bind mount at .../cluster-4.3 with its own /proc and /dev, so the
# 4.3 test broker's mounts and this cluster's never touch each other.
#
# Node N: wqcN@localhost, AMQP 127.0.0.1:568N, distribution port 2568N, data /var/lib/wq-cluster/nN (in the chroot).
# All three run as uid 944 (an account of this cluster only), share one Erlang cookie
# (/var/lib/wq-cluster/.erlang.cookie) and a private epmd on port 4380, and have the test brokers'
# settings: collect_statistics_interval 500, quorum_tick_interval 500, 4.3's deprecated features
# refused. Nodes 2 and 3 join node 1 (stop_app, join_cluster, start_app) the first time.
# Start from nothing: about 20 s; when all three already run as one cluster: about 1 s.
# To start afresh: stop, then rm -rf .../rabbitmq-4.3/var/lib/wq-cluster. Needs root (chroot, mount).
set -euo pipefail
ROOT=${WQ_BROKER_ROOT:-/var/lib/wq-test-brokers}
SRC=$ROOT/rabbitmq-4.3
CROOT=$ROOT/cluster-4.3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UID_GID=944
EPMD_PORT=4380
CTL_PORT_MIN=35740
DATA=/var/lib/wq-cluster # inside the chroot
NODES=(1 2 3)
STEP=''

say() { printf 'rabbitmq-cluster: %s\n' "$*" >&2; }
step() { STEP=$1; say "$1"; }
die() { say "FAILED: $*"; exit 1; }
on_err() { local rc=$?; say "FAILED (exit $rc) while ${STEP:-running}"; exit "$rc"; }

node_name() { echo "wqc$1@localhost"; }
amqp_port() { echo $((5680 + $1)); }
dist_port() { echo $((25680 + $1)); }
node_url() { echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$1")"; }
check_n() { [[ ${1:-} =~ ^[123]$ ]] || die "which node? give N = 1, 2 or 3 (got '${1:-}')"; }

# Environment for node $1 and its CLI, inside the chroot.
node_env() {
  local n=$1 d=$DATA/n$1
  printf '%s\n' \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$DATA LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    ERL_EPMD_PORT=$EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME="$(node_name "$n")" RABBITMQ_DIST_PORT="$(dist_port "$n")" \
    RABBITMQ_CTL_DIST_PORT_MIN=$CTL_PORT_MIN RABBITMQ_CTL_DIST_PORT_MAX=$((CTL_PORT_MIN + 59)) \
    RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf \
    RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins \
    RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$d/log RABBITMQ_PID_FILE=$d/pid \
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
}

# In the chroot, as the cluster's user, with node $1's environment: run the rest.
in_node() {
  local n=$1; shift
  local envs; mapfile -t envs < <(node_env "$n")
  chroot --userspec="$UID_GID:$UID_GID" "$CROOT" /usr/bin/env -i "${envs[@]}" "$@"
}
ctl() { local n=$1; shift; in_node "$n" /usr/lib/rabbitmq/bin/rabbitmqctl -n "$(node_name "$n")" "$@"; }

# The broker answers the AMQP 0-9-1 protocol header with a method frame (connection.start).
answers() {
  local first
  first=$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$(amqp_port "$1")"' || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 1 <&3 | od -An -tx1' 2>/dev/null) || return 1
  [[ ${first// /} == 01 ]]
}

# Node $1's Erlang VM: the pid in its pid file, if that process is a beam.smp of ours started as that node.
node_pid() {
  local pid
  pid=$(cat "$CROOT$DATA/n$1/pid" 2>/dev/null || cat "$SRC$DATA/n$1/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(stat -c %u "/proc/$pid" 2>/dev/null) == "$UID_GID" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$(node_name "$1")" || return 1
  echo "$pid"
}

ensure_chroot() {
  [[ -x $SRC/usr/lib/rabbitmq/bin/rabbitmq-server ]] && return 0
  step "the RabbitMQ 4.3 chroot is missing: building it (scripts/rabbitmq4.sh setup 4.3)"
  bash "$HERE/rabbitmq4.sh" setup 4.3 || die "could not set up the RabbitMQ 4.3 chroot (the lines above say why)"
}

mount_all() {
  if ! mountpoint -q "$CROOT"; then
    mkdir -p "$CROOT"
    mount --bind "$SRC" "$CROOT"
    mount --make-private "$CROOT"
  fi
  mountpoint -q "$CROOT/proc" || mount -t proc proc "$CROOT/proc"
  mountpoint -q "$CROOT/dev" || mount --bind /dev "$CROOT/dev"
}

umount_all() {
  local m
  for m in "$CROOT/dev" "$CROOT/proc" "$CROOT"; do while mountpoint -q "$m"; do umount "$m" || return 1; done; done
}

# Each node's configuration, written on every start so that changes to this script reach it.
write_config() {
  local n d
  install -d -o "$UID_GID" -g "$UID_GID" -m 755 "$CROOT$DATA"
  for n in "${NODES[@]}"; do
    d=$CROOT$DATA/n$n
    install -d -o "$UID_GID" -g "$UID_GID" -m 755 "$d" "$d/mnesia" "$d/log"
    cat >"$d/rabbitmq.conf" <<EOF
# wq test cluster, node $n: AMQP on 127.0.0.1:$(amqp_port "$n") only; 4.3 defaults otherwise.
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
collect_statistics_interval = 500
deprecated_features.permit.transient_nonexcl_queues = false
deprecated_features.permit.global_qos = false
EOF
    echo '[{rabbit, [{quorum_tick_interval, 500}]}].' >"$d/advanced.config"
    echo '[].' >"$d/enabled_plugins"
    echo '# everything is set in the environment (scripts/rabbitmq-cluster.sh)' >"$d/rabbitmq-env.conf"
  done
  local cookie=$CROOT$DATA/.erlang.cookie
  # From a finite read: `tr </dev/urandom | head` ends tr with SIGPIPE, which pipefail turns into an exit
  # between the write and the chown, leaving a cookie the nodes cannot read. Ownership is set every time.
  if [[ ! -s $cookie ]]; then
    local letters
    letters=$(head -c 4000 /dev/urandom | LC_ALL=C tr -dc A-Z)
    (umask 077; printf '%s' "${letters:0:20}" >"$cookie")
  fi
  chown "$UID_GID:$UID_GID" "$cookie" && chmod 400 "$cookie"
}

launch() {
  local n=$1 log=$CROOT$DATA/n$1/log/wq-start.log
  : >"$log"
  chown "$UID_GID:$UID_GID" "$log"
  local envs; mapfile -t envs < <(node_env "$n")
  rm -f "$CROOT$DATA/n$n/pid"
  setsid chroot --userspec="$UID_GID:$UID_GID" "$CROOT" /usr/bin/env -i "${envs[@]}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server </dev/null >>"$log" 2>&1 9>&- &
  LAUNCHED[$n]=$! # the rabbitmq-server script (setsid does not fork here): it lives as long as its VM
}
declare -A LAUNCHED=()

# Wait until every node given answers AMQP (at most 120 s: a node of a cluster may wait for its peers).
await_nodes() {
  local t0=$SECONDS n pending
  while :; do
    pending=()
    for n in "$@"; do answers "$n" || pending+=("$n"); done
    [[ ${#pending[@]} -eq 0 ]] && return 0
    for n in "${pending[@]}"; do
      if [[ -n ${LAUNCHED[$n]:-} ]] && ! kill -0 "${LAUNCHED[$n]}" 2>/dev/null; then
        tail -n 12 "$CROOT$DATA/n$n/log/wq-start.log" >&2 2>/dev/null || true
        die "node $n ($(node_name "$n")) exited during start (log: $CROOT$DATA/n$n/log/)"
      fi
    done
    (( SECONDS - t0 < 120 )) || die "node(s) ${pending[*]} did not answer AMQP within 120 s (logs: $CROOT$DATA/nN/log/)"
    sleep 0.5
  done
}

# Start the nodes given that do not answer yet, all at once (a node that was in a cluster waits for its peers).
start_nodes() {
  local n starting=()
  for n in "$@"; do
    answers "$n" && continue
    if node_pid "$n" >/dev/null; then
      # Its VM runs but AMQP does not answer: booting, or its app was stopped (an interrupted join).
      step "node $n's VM runs without AMQP: start_app"
      ctl "$n" -q start_app >/dev/null 2>&1 || true
    else
      step "starting node $n ($(node_name "$n"), AMQP 127.0.0.1:$(amqp_port "$n"))"
      launch "$n"
    fi
    starting+=("$n")
  done
  [[ ${#starting[@]} -eq 0 ]] && return 0
  step "waiting for AMQP on node(s) ${starting[*]}"
  await_nodes "${starting[@]}"
}

# The nodes node 1 counts as cluster members (disk_nodes, running or not) or running_nodes, one per line.
cluster_list() { ctl 1 -q cluster_status --formatter json 2>/dev/null | tr -d ' \n' | grep -o "\"$1\":\\[[^]]*\\]" | grep -o 'wqc[0-9]@localhost' || true; }
members() { cluster_list disk_nodes; }
running() { cluster_list running_nodes; }

join_all() {
  local n list
  list=$(members)
  for n in 2 3; do
    grep -qx "$(node_name "$n")" <<<"$list" && continue
    step "joining node $n to node 1 (stop_app, join_cluster, start_app)"
    ctl "$n" -q stop_app >/dev/null
    ctl "$n" -q join_cluster "$(node_name 1)" >/dev/null
    ctl "$n" -q start_app >/dev/null
    await_nodes "$n"
  done
}

stop_node() {
  local n=$1 pid t0=$SECONDS
  pid=$(node_pid "$n") || { say "node $n is not running"; return 0; }
  step "stopping node $n ($(node_name "$n"), pid $pid)"
  ctl "$n" -q stop >/dev/null 2>&1 || true
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS - t0 < 30 )) || { say "node $n still running 30 s after stop; killing it"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; break; }
    sleep 0.2
  done
  say "node $n stopped"
}

kill_node() {
  local n=$1 pid
  pid=$(node_pid "$n") || die "node $n is not running: nothing to kill"
  step "killing node $n ($(node_name "$n"), pid $pid) with SIGKILL"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

do_start() {
  local n all=1 t0=$SECONDS
  for n in "${NODES[@]}"; do answers "$n" || all=0; done
  if (( all )) && [[ $(running | wc -l) == 3 ]]; then say "all three nodes already answer as one cluster ($(node_url 1 | sed 's/guest:guest/guest:***/'), ...)"; return 0; fi
  [[ $(id -u) == 0 ]] || die "start needs root (chroot, mount)"
  ensure_chroot
  trap on_err ERR
  mountpoint -q "$CROOT/proc" || step "mounting the 4.3 chroot at $CROOT (private, with /proc and /dev)"
  mount_all
  write_config
  start_nodes "${NODES[@]}"
  join_all
  step "checking that all three run as one cluster"
  local r=0
  for ((n = 0; n < 20; n++)); do r=$(running | wc -l); [[ $r == 3 ]] && break; sleep 0.5; done
  [[ $r == 3 ]] || die "the cluster runs $r of 3 nodes after start (ctl 1 cluster_status says why)"
  trap - ERR
  say "cluster ready after $((SECONDS - t0)) s: AMQP on 127.0.0.1:5681, 5682, 5683"
}

do_stop() {
  local n pids=()
  [[ -d $SRC ]] || { say "the 4.3 chroot is not set up; nothing to stop"; return 0; }
  if mountpoint -q "$CROOT"; then mount_all; fi
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && { stop_node "$n" & pids+=("$!"); }; done
  for n in ${pids[@]+"${pids[@]}"}; do wait "$n" || true; done
  if mountpoint -q "$CROOT"; then
    in_node 1 epmd -kill >/dev/null 2>&1 || true
    # The VMs' helpers (erl_child_setup, inet_gethost, epmd) end just after them; anything of uid 944 left is ended.
    for ((n = 0; n < 25; n++)); do pgrep -u "$UID_GID" >/dev/null || break; sleep 0.2; done
    pkill -KILL -u "$UID_GID" 2>/dev/null || true
    umount_all 2>/dev/null || say "left $CROOT mounted (still in use)"
  fi
  say "cluster stopped"
}

# --- main -------------------------------------------------------------------
cmd=${1:-}
[[ -n $cmd ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
shift
case $cmd in
  url) n=${1:-1}; check_n "$n"; node_url "$n" ;;
  urls) echo "$(node_url 1),$(node_url 2),$(node_url 3)" ;;
  ctl) # Hot path for tests: no lock, no messages; exactly rabbitmqctl's output and exit code.
    n=${1:-}; check_n "$n"; shift
    [[ -e $CROOT/proc/self ]] || die "the cluster is not mounted (run: $0 start)"
    envs=(); mapfile -t envs < <(node_env "$n")
    exec chroot --userspec="$UID_GID:$UID_GID" "$CROOT" /usr/bin/env -i "${envs[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -n "$(node_name "$n")" "$@" ;;
  status)
    up=0
    for n in "${NODES[@]}"; do if answers "$n"; then up=$((up + 1)); else say "node $n does not answer on 127.0.0.1:$(amqp_port "$n")"; fi; done
    [[ $up == 3 ]] || exit 1
    r=$(running | wc -l)
    [[ $r == 3 ]] || { say "node 1 sees $r of 3 nodes running in its cluster"; exit 1; }
    say "all three answer AMQP (127.0.0.1:5681-5683) and run as one cluster"
    ;;
  start|stop|stop-node|start-node|kill-node|restart-node)
    [[ $cmd == *-node ]] && check_n "${1:-}"
    [[ $(id -u) == 0 ]] || die "$cmd needs root (chroot, mount, kill)"
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock-cluster"
    flock 9
    case $cmd in
      start) do_start ;;
      stop) do_stop ;;
      stop-node) stop_node "$1" ;;
      kill-node) kill_node "$1" ;;
      start-node|restart-node)
        ensure_chroot && mount_all && write_config
        [[ $cmd == restart-node ]] && stop_node "$1"
        if answers "$1"; then say "node $1 already answers on 127.0.0.1:$(amqp_port "$1")"; else t0=$SECONDS; start_nodes "$1"; say "node $1 answers after $((SECONDS - t0)) s"; fi ;;
    esac
    ;;
  *) die "unknown command '$cmd' (start, stop, status, url, urls, ctl, stop-node, start-node, kill-node, restart-node)" ;;
esac
