import { connect as netConnect } from 'node:net';
import { redactUrl } from '../redact.js';

export interface Broker {
  url: string;
  /** Where it came from, for the demo's first lines. */
  how: string;
  /** Set when testcontainers started it (the tests run rabbitmqctl inside it). */
  containerId?: string;
  stop(): Promise<void>;
}

// A non-literal specifier keeps esbuild from bundling testcontainers (a devDependency, loaded only here).
const TESTCONTAINERS = '@testcontainers/rabbitmq';

// BROKER_URL (or AMQP_URL), else RabbitMQ on 127.0.0.1:5672, else a container through testcontainers,
// else one line that says how to get a broker.
export async function findBroker(env: Record<string, string | undefined> = process.env, local = { host: '127.0.0.1', port: 5672 }): Promise<Broker> {
  const fromEnv = env.BROKER_URL || env.AMQP_URL;
  if (fromEnv) return { url: fromEnv, how: `${redactUrl(fromEnv)} (from ${env.BROKER_URL ? 'BROKER_URL' : 'AMQP_URL'})`, stop: async () => {} };
  if (await answers(local.host, local.port)) {
    const url = `amqp://guest:guest@${local.host}:${local.port}`;
    return { url, how: `${redactUrl(url)} (RabbitMQ answering on ${local.host}:${local.port})`, stop: async () => {} };
  }
  let reason: string;
  try {
    const { RabbitMQContainer } = (await import(TESTCONTAINERS)) as typeof import('@testcontainers/rabbitmq');
    const container = await new RabbitMQContainer('rabbitmq:3.13-management-alpine').start();
    const url = container.getAmqpUrl();
    return {
      url,
      how: `${redactUrl(url)} (a RabbitMQ container started by testcontainers)`,
      containerId: container.getId(),
      stop: async () => void (await container.stop()),
    };
  } catch (err) {
    reason = (err as Error).message.split('\n')[0] ?? String(err);
  }
  throw new Error(
    `no RabbitMQ broker: BROKER_URL is not set, nothing answers on ${local.host}:${local.port}, and testcontainers could not start one (${reason}). Start one with 'rabbitmq-server -detached' or 'docker run -d -p 5672:5672 rabbitmq:3', or set BROKER_URL=amqp://user:pass@host:5672.`,
  );
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
