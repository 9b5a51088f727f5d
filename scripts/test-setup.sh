#!/usr/bin/env bash
# npm test runs this first: everything the suite needs beyond npm, set up idempotently, each step said
# aloud, and one clear line when something cannot be had.
#   - Debian packages: amqp-tools (the reference client), tini (the image's init), podman, runc,
#     mmdebstrap (the image tests' engine and base images), debootstrap (the 4.x brokers);
#   - the machine's RabbitMQ (started if it does not answer on 127.0.0.1:5672);
#   - Node 22 and 24, plain binaries from the npm registry (scripts/node-versions.mjs), that the runtime
#     is tested on besides the machine's Node (vitest.config.ts);
#   - RabbitMQ 4.x test brokers in Debian chroots (scripts/rabbitmq4.sh) and the 3-node 4.3 cluster
#     (scripts/rabbitmq-cluster.sh, in the 4.3 chroot), built beside
#   - the images (scripts/image.sh).
# WQ_TEST_BROKERS=3.10 limits the brokers (see scripts/brokers.mjs); WQ_TEST_NODES=none (or 24) the
# other Node versions (see scripts/node-versions.mjs); WQ_SKIP_IMAGE=1 skips the images
# (the image tests then fail with a line saying so). A second run takes a few seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOGDIR=${WQ_SETUP_LOGS:-$ROOT/.cache/test-setup}
mkdir -p "$LOGDIR"
say() { printf 'test setup: %s\n' "$*" >&2; }
fail() { printf 'test setup: FAILED: %s\n' "$*" >&2; exit 1; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. Debian packages (one apt-get for all that are missing; the chroots and images come later).
need=()
command -v amqp-consume >/dev/null || need+=(amqp-tools)
command -v tini-static >/dev/null || need+=(tini)
command -v rabbitmqctl >/dev/null || need+=(rabbitmq-server)
command -v script >/dev/null || need+=(util-linux)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ -z "${WQ_SKIP_IMAGE:-}" ] && ! { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }; then
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || fail "missing ${need[*]}: install them (apt-get install ${need[*]}) or run npm test as root"
  say "installing ${need[*]} (apt-get)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >"$LOGDIR/apt.log" 2>&1 ||
    { apt-get update -qq >>"$LOGDIR/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOGDIR/apt.log" 2>&1; }; } ||
    fail "apt-get install ${need[*]} failed (log: $LOGDIR/apt.log)"
fi

# 2. The machine's broker.
if ! answers 5672 && [ -z "${AMQP_URL:-}${BROKER_URL:-}" ]; then
  say "RabbitMQ does not answer on 127.0.0.1:5672: starting it (rabbitmq-server -detached)"
  rabbitmq-server -detached >"$LOGDIR/rabbitmq.log" 2>&1 || true
  rabbitmqctl await_startup --timeout 120 >>"$LOGDIR/rabbitmq.log" 2>&1 || fail "RabbitMQ did not start (log: $LOGDIR/rabbitmq.log)"
fi

# Quorum-queue figures in rabbitmqctl list_queues lag by the statistics interval (5 s): the tests read
# them after every run, so the machine's broker reports every 500 ms (until it restarts).
if [ -z "${AMQP_URL:-}${BROKER_URL:-}" ]; then
  rabbitmqctl eval 'application:set_env(rabbit, collect_statistics_interval, 500), application:set_env(rabbit, quorum_tick_interval, 500).' >/dev/null 2>&1 ||
    say "could not lower the statistics interval of the machine's broker: quorum-queue counts may lag"
fi

# 3. Node 22 and 24 (about 10 s the first time; the image's bases take Node 24 from here too).
node scripts/node-versions.mjs 2>&1 | sed 's/^/test setup: /' >&2 || fail "could not fetch Node 22 and 24 from the npm registry (the line above says why); WQ_TEST_NODES=none runs the suite on this machine's Node only"

# 4. The 4.x brokers and the cluster (in the background) beside the images.
brokers=$(node -e 'import("./scripts/brokers.mjs").then(m => console.log(m.chosenBrokers().map(b => b.name).join(" ")))')
pids=()
for b in $brokers; do
  case $b in
    4.*) bash scripts/rabbitmq4.sh start "$b" 2>&1 | sed "s/^/[$b] /" >&2 & pids+=("$!:RabbitMQ $b (scripts/rabbitmq4.sh start $b)") ;;
    # The cluster runs in the 4.3 chroot: if that is being built beside it, it waits for the build (a lock).
    cluster) bash scripts/rabbitmq-cluster.sh start 2>&1 | sed "s/^/[cluster] /" >&2 & pids+=("$!:the RabbitMQ cluster (scripts/rabbitmq-cluster.sh start)") ;;
  esac
done
if [ -z "${WQ_SKIP_IMAGE:-}" ]; then
  bash scripts/image.sh 2>&1 | sed 's/^/[image] /' >&2 & pids+=("$!:the images (npm run image)")
fi
failed=()
for entry in ${pids[@]+"${pids[@]}"}; do
  wait "${entry%%:*}" || failed+=("${entry#*:}")
done
[ ${#failed[@]} -eq 0 ] || fail "could not set up: ${failed[*]}; the lines above say why"
say "ready: brokers $brokers${WQ_SKIP_IMAGE:+ (images skipped)}"
