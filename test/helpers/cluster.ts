import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ConsumeMessage } from 'amqplib';
import { inject } from 'vitest';
import { admin } from './broker.js';

const run = promisify(execFile);

// The 3-node cluster of the "cluster" project (scripts/rabbitmq-cluster.sh). admin() and queueState()
// (test/helpers/broker.ts) go through node 1; the tests stop, kill and restart the other nodes.

/** Node N's URL (1..3), with the given user and password if any. */
export function nodeUrl(n: 1 | 2 | 3, auth?: string): string {
  const url = new URL((inject('clusterUrls') ?? [])[n - 1] as string);
  if (auth) {
    const u = new URL(auth);
    url.username = u.username;
    url.password = u.password;
  }
  return url.toString().replace(/\/$/, '');
}

/** scripts/rabbitmq-cluster.sh start-node|stop-node|kill-node N, or start. */
export async function clusterScript(cmd: 'start' | 'start-node' | 'stop-node' | 'kill-node', n?: number): Promise<void> {
  await run('bash', [inject('clusterScript') as string, cmd, ...(n === undefined ? [] : [String(n)])], { timeout: 180_000 });
}

/** Every message of a queue (through node 1), taken with auto-ack. */
export async function takeAll(queue: string, expected: number): Promise<ConsumeMessage[]> {
  const ch = await (await admin()).createChannel();
  await ch.prefetch(2000);
  const got: ConsumeMessage[] = [];
  await new Promise<void>((resolve) => {
    if (expected === 0) resolve();
    void ch.consume(queue, (msg) => {
      if (msg) got.push(msg);
      if (got.length === expected) resolve();
    }, { noAck: true });
  });
  await ch.close();
  return got;
}
