// The harness's own broker connection: fill queues (confirmed, persistent), read depths, and delete
// every queue it made when the run ends.
import amqp from 'amqplib';

const made = new Set();
let serial = 0;

export async function openAdmin(url) {
  const conn = await amqp.connect(url, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  const props = conn.connection.serverProperties ?? {};
  return { conn, ch, serverVersion: `${props.product ?? 'broker'} ${props.version ?? '?'}` };
}

/** A durable queue with a name no other run uses; deleted by cleanup(). */
export async function freshQueue(admin, label, declare = true) {
  const name = `wq-bench-${label}-${process.pid}-${++serial}`;
  made.add(name);
  if (declare) await admin.ch.assertQueue(name, { durable: true });
  return name;
}

/** Publish n persistent messages, body(i), with a confirm window; resolves when all are confirmed. */
export async function fill(admin, queue, n, body = (i) => `m${i}\n`) {
  const { ch } = admin;
  for (let i = 0; i < n; i++) {
    if (!ch.publish('', queue, Buffer.from(body(i)), { persistent: true })) await new Promise((r) => ch.once('drain', r));
    if (i % 1000 === 999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
}

/** Ready messages (the queue must exist). */
export async function depth(admin, queue) {
  return (await admin.ch.checkQueue(queue)).messageCount;
}

export async function removeQueue(admin, queue) {
  await admin.ch.deleteQueue(queue);
  made.delete(queue);
}

export async function cleanup(admin) {
  for (const queue of made) {
    try {
      await admin.ch.deleteQueue(queue);
    } catch {
      // the channel may be gone after a failure; nothing more to do
    }
  }
  await admin.conn.close().catch(() => {});
}
