import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqp, { type ChannelModel, type GetMessage, type Options } from 'amqplib';
import { afterAll, inject } from 'vitest';

const run = promisify(execFile);

export const brokerUrl = (): string => inject('brokerUrl');

let shared: Promise<ChannelModel> | undefined;
const created = new Set<string>();

/**
 * One connection per test file for setup and inspection; closed, with every queue made, after the file.
 * A broker restart (the faults tests) closes it: the next call opens a new one.
 */
export function admin(): Promise<ChannelModel> {
  shared ??= amqp.connect(brokerUrl(), { noDelay: true }).then((conn) => {
    conn.on('error', () => undefined);
    conn.on('close', () => (shared = undefined));
    return conn;
  });
  return shared;
}

afterAll(async () => {
  if (!shared && created.size === 0) return;
  const conn = await admin();
  const ch = await conn.createChannel();
  for (const q of created) await ch.deleteQueue(q).catch(() => undefined);
  await conn.close().catch(() => undefined);
  shared = undefined;
  created.clear();
});

/** A unique queue name, deleted after the file. */
export function uniqueQueue(label = 'q'): string {
  const name = `wq-test-${label}-${randomBytes(4).toString('hex')}`;
  created.add(name);
  return name;
}

export function forget(queue: string): void {
  created.add(queue);
}

/** A durable queue with a unique name (quorum if asked), deleted after the file. */
export async function freshQueue(label = 'q', args: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueQueue(label);
  const ch = await (await admin()).createChannel();
  await ch.assertQueue(name, { durable: true, arguments: args });
  await ch.close();
  return name;
}

/** Publish persistent messages to a queue through the default exchange, confirmed. */
export async function publish(queue: string, bodies: (string | Buffer)[], options: Options.Publish = {}): Promise<void> {
  const ch = await (await admin()).createConfirmChannel();
  for (const body of bodies) ch.publish('', queue, Buffer.isBuffer(body) ? body : Buffer.from(body), { persistent: true, ...options });
  await ch.waitForConfirms();
  await ch.close();
}

/** Take every ready message off a queue (acked), bodies as Buffers. */
export async function drain(queue: string): Promise<Buffer[]> {
  const ch = await (await admin()).createChannel();
  const out: Buffer[] = [];
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (!msg) break;
    out.push(msg.content);
  }
  await ch.close();
  return out;
}

/** Take every ready message off a queue (acked), whole: properties and fields too. */
export async function drainMessages(queue: string): Promise<GetMessage[]> {
  const ch = await (await admin()).createChannel();
  const out: GetMessage[] = [];
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (!msg) break;
    out.push(msg);
  }
  await ch.close();
  return out;
}

export interface QueueState {
  ready: number;
  unacked: number;
  consumers: number;
}

/** Run rabbitmqctl against the test broker (through its configured prefix) and return its stdout. */
export async function ctl(args: string[]): Promise<string> {
  const [cmd, ...prefix] = inject('rabbitmqctl');
  const { stdout } = await run(cmd as string, [...prefix, ...args]);
  return stdout;
}

/** A queue's type (classic, quorum), as rabbitmqctl lists it. */
export async function queueTypeOf(queue: string): Promise<string | undefined> {
  const out = await ctl(['list_queues', '-q', '--no-table-headers', 'name', 'type']);
  return out.split('\n').map((l) => l.trim().split(/\s+/)).find(([name]) => name === queue)?.[1];
}

/**
 * A broker user for this file with the given permission patterns on the test vhost (configure,
 * write, read; '' = none), deleted after the file. Returns the broker URL that logs in as it.
 */
export async function brokerUser(label: string, permissions: { configure: string; write: string; read: string }): Promise<string> {
  const name = `wq-test-${label}-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(8).toString('hex');
  const url = new URL(brokerUrl());
  const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
  await ctl(['add_user', name, password]);
  users.add(name);
  await ctl(['set_permissions', '-p', vhost, name, permissions.configure, permissions.write, permissions.read]);
  url.username = name;
  url.password = password;
  return url.toString();
}

const users = new Set<string>();
afterAll(async () => {
  for (const name of users) await ctl(['delete_user', name]).catch(() => undefined);
  users.clear();
});

/**
 * The queue's ready and unacked counts and consumers, straight from the broker (rabbitmqctl). A quorum
 * queue's figures are emitted on a timer (500 ms on the test brokers, scripts/test-setup.sh; 5 s on a
 * broker left at its defaults): read them again after a tick, and until they agree with the queue's own
 * count, so that they describe the queue after what the test just did.
 */
export async function queueState(queue: string): Promise<QueueState> {
  const first = await listQueue(queue);
  if (first.type !== 'quorum') return first.state;
  const deadline = Date.now() + 10_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const own = await checkQueue(queue);
    const { state } = await listQueue(queue);
    if ((state.ready === own.messageCount && state.consumers === own.consumerCount) || Date.now() > deadline) return state;
  }
}

async function listQueue(queue: string): Promise<{ type: string; state: QueueState }> {
  const [cmd, ...prefix] = inject('rabbitmqctl');
  const { stdout } = await run(cmd as string, [...prefix, 'list_queues', '-q', '--no-table-headers', 'name', 'type', 'messages_ready', 'messages_unacknowledged', 'consumers']);
  for (const line of stdout.split('\n')) {
    const [name, type, ready, unacked, consumers] = line.trim().split(/\s+/);
    if (name === queue) return { type: type ?? '', state: { ready: Number(ready), unacked: Number(unacked), consumers: Number(consumers) } };
  }
  throw new Error(`queue ${queue} not found by rabbitmqctl`);
}

/** The ready count from a passive declare: exact at once, on quorum queues too (rabbitmqctl's lags a tick). */
export async function readyCount(queue: string): Promise<number> {
  return (await checkQueue(queue)).messageCount;
}

/**
 * Consumers on the queue, over AMQP: milliseconds, where queueState's rabbitmqctl takes a second or more
 * on a busy machine. For polling a consumer that lives only a few seconds.
 */
export async function consumerCount(queue: string): Promise<number> {
  return (await checkQueue(queue)).consumerCount;
}

async function checkQueue(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const ch = await (await admin()).createChannel();
  const ok = await ch.checkQueue(queue);
  await ch.close();
  return ok;
}

/** Does the queue exist? */
export async function queueExists(queue: string): Promise<boolean> {
  const ch = await (await admin()).createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.checkQueue(queue);
    await ch.close();
    return true;
  } catch {
    return false;
  }
}
