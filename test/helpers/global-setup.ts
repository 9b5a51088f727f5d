import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';
import { clusterBroker, testBrokers } from '../../scripts/brokers.mjs';

// Every test broker must answer, and its rabbitmqctl must work (the tests read queue counts with it);
// broker tests never skip silently. npm test starts the 4.x brokers first (scripts/test-setup.sh).
declare module 'vitest' {
  export interface ProvidedContext {
    brokerUrl: string;
    /** How to run rabbitmqctl against that broker: argv prefix. */
    rabbitmqctl: string[];
    /** Which test broker: 3.10, 4.0, 4.3, custom, or cluster. */
    brokerName: string;
    /** The cluster project only: every node's URL (node 1 first), and scripts/rabbitmq-cluster.sh. */
    clusterUrls?: string[];
    clusterScript?: string;
  }
}

let checked: Promise<void> | undefined;

export default async function setup(_project: TestProject) {
  checked ??= checkAll();
  await checked;
}

async function checkAll(): Promise<void> {
  const cluster = clusterBroker();
  for (const url of cluster?.urls ?? []) {
    const { hostname, port } = new URL(url);
    if (!(await answers(hostname, Number(port)))) {
      throw new Error(`The cluster tests need the 3-node RabbitMQ cluster, and node ${url.slice(-1)} does not answer at ${hostname}:${port}. Run npm test (it starts it), or scripts/rabbitmq-cluster.sh start; WQ_TEST_BROKERS=3.10,4.0,4.3 leaves the cluster out.`);
    }
  }
  for (const b of [...testBrokers(), ...(cluster ? [cluster] : [])]) {
    const { hostname, port } = new URL(b.url);
    if (!(await answers(hostname, Number(port || 5672)))) {
      throw new Error(`The tests need RabbitMQ ${b.name} at ${hostname}:${port || 5672} (${b.how}), and nothing answers there. Run npm test (it starts the test brokers), or scripts/rabbitmq4.sh start ${b.name}; WQ_TEST_BROKERS=3.10 runs against the machine's broker only.`);
    }
    try {
      execFileSync(b.ctl[0] as string, [...b.ctl.slice(1), 'list_queues', '-q', 'name'], { stdio: 'ignore', timeout: 60_000 });
    } catch {
      throw new Error(`The tests read queue counts with rabbitmqctl, and "${b.ctl.join(' ')} list_queues" failed for RabbitMQ ${b.name}. Run the tests on the broker's host, or set RABBITMQCTL.`);
    }
  }
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: 2000 });
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => (sock.destroy(), resolve(false)));
  });
}
