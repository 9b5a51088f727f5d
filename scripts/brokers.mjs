// The brokers the tests run against (vitest.config.ts makes one project per broker).
//   WQ_TEST_BROKERS=3.10,4.0,4.3   which ones (default: all three; scripts/test-setup.sh starts the 4.x ones)
//   AMQP_URL=amqp://...            one broker of your own instead (its rabbitmqctl: RABBITMQCTL, default rabbitmqctl)
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rabbitmq4.sh', import.meta.url));

export const KNOWN = {
  '3.10': { url: 'amqp://guest:guest@127.0.0.1:5672', ctl: ['rabbitmqctl'], how: "the machine's RabbitMQ" },
  '4.0': { url: 'amqp://guest:guest@127.0.0.1:5673', ctl: ['bash', SCRIPT, 'ctl', '4.0'], how: 'Debian 13 chroot (scripts/rabbitmq4.sh)' },
  // 4.3 runs the suites where it differs from 4.0 (delivery counting, consumer timeouts, deprecated
  // features) and the faults; the whole matrix runs on 3.10 and 4.0. WQ_TEST_FULL=1 runs everything on it.
  '4.3': { url: 'amqp://guest:guest@127.0.0.1:5674', ctl: ['bash', SCRIPT, 'ctl', '4.3'], how: 'Debian testing chroot (scripts/rabbitmq4.sh)', suites: 'promise' },
};

export const DEFAULT_BROKERS = '3.10,4.0,4.3';

/** @returns {{ name: string, url: string, ctl: string[], how: string, suites?: 'promise' }[]} */
export function testBrokers(env = process.env) {
  const own = env.AMQP_URL || env.BROKER_URL;
  if (own) return [{ name: 'custom', url: own, ctl: (env.RABBITMQCTL || 'rabbitmqctl').split(' '), how: 'AMQP_URL' }];
  const names = (env.WQ_TEST_BROKERS || DEFAULT_BROKERS).split(',').map((n) => n.trim()).filter(Boolean);
  return names.map((name) => {
    const known = KNOWN[name];
    if (!known) throw new Error(`WQ_TEST_BROKERS: unknown broker "${name}" (known: ${Object.keys(KNOWN).join(', ')})`);
    return { name, ...known, ...(env.WQ_TEST_FULL ? { suites: undefined } : {}) };
  });
}
