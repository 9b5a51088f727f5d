import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { findBroker } from '../../src/demo/find-broker.js';

// Where the tests' broker comes from, as for the demo: AMQP_URL or BROKER_URL if set; else RabbitMQ on
// 127.0.0.1:5672 if it answers; else a container through testcontainers where Docker exists. With none
// of them the run fails with one line that says how to get a broker; broker tests never skip silently.
declare module 'vitest' {
  export interface ProvidedContext {
    brokerUrl: string;
    /** How to run rabbitmqctl against that broker: argv prefix. */
    rabbitmqctl: string[];
  }
}

export default async function setup(project: TestProject) {
  const env = { ...process.env, BROKER_URL: process.env.AMQP_URL || process.env.BROKER_URL };
  const broker = await findBroker(env).catch((err: Error) => {
    throw new Error(`The tests need RabbitMQ: ${err.message}`);
  });
  const ctl = broker.containerId ? ['docker', 'exec', broker.containerId, 'rabbitmqctl'] : ['rabbitmqctl'];
  try {
    execFileSync(ctl[0] as string, [...ctl.slice(1), 'list_queues', '-q', 'name'], { stdio: 'ignore' });
  } catch {
    await broker.stop();
    throw new Error(`The tests read queue counts with rabbitmqctl, and "${ctl.join(' ')} list_queues" failed. Run the tests on the broker's host, or install rabbitmq-server's CLI.`);
  }
  project.provide('brokerUrl', broker.url);
  project.provide('rabbitmqctl', ctl);
  return () => broker.stop();
}
