// The brokers the tests run against (vitest.config.ts makes one project per broker).
//   WQ_TEST_BROKERS=3.10,4.0,4.3,cluster   which ones (default: all; scripts/test-setup.sh starts the 4.x ones
//                                          and the cluster). The cluster is not part of the matrix: only
//                                          test/cluster/ runs on it (vitest project "cluster").
//   AMQP_URL=amqp://...            one broker of your own instead (its rabbitmqctl: RABBITMQCTL, default rabbitmqctl)
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rabbitmq4.sh', import.meta.url));
const CLUSTER_SCRIPT = fileURLToPath(new URL('./rabbitmq-cluster.sh', import.meta.url));
const CLUSTER_URLS = [5681, 5682, 5683].map((port) => `amqp://guest:guest@127.0.0.1:${port}`);

export const KNOWN = {
  '3.10': { url: 'amqp://guest:guest@127.0.0.1:5672', ctl: ['rabbitmqctl'], how: "the machine's RabbitMQ" },
  '4.0': { url: 'amqp://guest:guest@127.0.0.1:5673', ctl: ['bash', SCRIPT, 'ctl', '4.0'], how: 'Debian 13 chroot (scripts/rabbitmq4.sh)' },
  // 4.3 runs the suites where it differs from 4.0 (delivery counting, consumer timeouts, deprecated
  // features) and the faults; the whole matrix runs on 3.10 and 4.0. WQ_TEST_FULL=1 runs everything on it.
  '4.3': { url: 'amqp://guest:guest@127.0.0.1:5674', ctl: ['bash', SCRIPT, 'ctl', '4.3'], how: 'Debian testing chroot (scripts/rabbitmq4.sh)', suites: 'promise' },
  // Three RabbitMQ 4.3 nodes as one cluster: url and ctl are node 1's; the tests stop, kill and restart nodes
  // through `script` (start-node N, kill-node N, ...).
  cluster: { url: CLUSTER_URLS[0], urls: CLUSTER_URLS, ctl: ['bash', CLUSTER_SCRIPT, 'ctl', '1'], script: CLUSTER_SCRIPT, how: 'a 3-node RabbitMQ 4.3 cluster (scripts/rabbitmq-cluster.sh)', suites: 'cluster' },
};

export const DEFAULT_BROKERS = '3.10,4.0,4.3,cluster';

/**
 * The brokers of the test matrix (every suite runs on each): the chosen ones but the cluster.
 * @returns {{ name: string, url: string, ctl: string[], how: string, suites?: 'promise' }[]}
 */
export function testBrokers(env = process.env) {
  return chosenBrokers(env).filter((b) => b.suites !== 'cluster');
}

/** The 3-node cluster, when chosen (not with AMQP_URL). */
export function clusterBroker(env = process.env) {
  return chosenBrokers(env).find((b) => b.suites === 'cluster');
}

/** Every chosen broker, the cluster included: what scripts/test-setup.sh starts. */
export function chosenBrokers(env = process.env) {
  const own = env.AMQP_URL || env.BROKER_URL;
  if (own) return [{ name: 'custom', url: own, ctl: (env.RABBITMQCTL || 'rabbitmqctl').split(' '), how: 'AMQP_URL' }];
  const names = (env.WQ_TEST_BROKERS || DEFAULT_BROKERS).split(',').map((n) => n.trim()).filter(Boolean);
  return names.map((name) => {
    const known = KNOWN[name];
    if (!known) throw new Error(`WQ_TEST_BROKERS: unknown broker "${name}" (known: ${Object.keys(KNOWN).join(', ')})`);
    return { name, ...known, ...(env.WQ_TEST_FULL && known.suites === 'promise' ? { suites: undefined } : {}) };
  });
}
