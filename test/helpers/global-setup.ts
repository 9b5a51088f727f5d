import { execFileSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import type { TestProject } from 'vitest/node';

// Where the tests' broker comes from: AMQP_URL or BROKER_URL if set; else RabbitMQ on 127.0.0.1:5672
// if it answers; else a container through testcontainers where Docker exists. With none of them the
// run fails with one line that says how to get a broker; broker tests never skip silently.
declare module 'vitest' {
  export interface ProvidedContext {
    brokerUrl: string;
    /** How to run rabbitmqctl against that broker: argv prefix. */
    rabbitmqctl: string[];
  }
}

const LOCAL = 'amqp://guest:guest@127.0.0.1:5672';

export default async function setup(project: TestProject) {
  const fromEnv = process.env.AMQP_URL || process.env.BROKER_URL;
  let url: string;
  let ctl: string[] = ['rabbitmqctl'];
  let stopContainer: (() => Promise<unknown>) | undefined;
  if (fromEnv) {
    url = fromEnv;
  } else if (await answers('127.0.0.1', 5672)) {
    url = LOCAL;
  } else {
    try {
      const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
      const container = await new RabbitMQContainer('rabbitmq:3.13-management-alpine').start();
      url = container.getAmqpUrl();
      ctl = ['docker', 'exec', container.getId(), 'rabbitmqctl'];
      stopContainer = () => container.stop();
    } catch (err) {
      throw new Error(
        `No RabbitMQ broker for the tests: nothing answers on 127.0.0.1:5672, AMQP_URL is not set, and testcontainers could not start one (${(err as Error).message.split('\n')[0]}). Start one with 'rabbitmq-server -detached', or set AMQP_URL=amqp://user:pass@host:5672, or run Docker.`,
      );
    }
  }
  try {
    execFileSync(ctl[0] as string, [...ctl.slice(1), 'list_queues', '-q', 'name'], { stdio: 'ignore' });
  } catch {
    throw new Error(`The tests read queue counts with rabbitmqctl, and "${ctl.join(' ')} list_queues" failed. Run the tests on the broker's host, or install rabbitmq-server's CLI.`);
  }
  project.provide('brokerUrl', url);
  project.provide('rabbitmqctl', ctl);
  return async () => {
    await stopContainer?.();
  };
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect({ host, port, timeout: 1000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}
