// The floor for wq-publish: a minimal amqplib publisher that sends every line of a file as one persistent
// message with publisher confirms and a sliding window of 1000 unconfirmed messages. No argument parsing,
// no logging. The bench bundles it with the same esbuild options as dist/wq-publish.mjs.
// MANDATORY=1 also sets the mandatory flag, as wq-publish does (so that an unroutable message comes back
// instead of being confirmed and dropped).
// Usage: BROKER_URL=... QUEUE=... [MANDATORY=1] node floor-publish.mjs FILE
import amqp from 'amqplib';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';

const WINDOW = 1000;
const options = { persistent: true, mandatory: process.env.MANDATORY === '1' };
const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter((line) => line !== '');
const conn = await amqp.connect(process.env.BROKER_URL, { noDelay: true });
const ch = await conn.createConfirmChannel();
await ch.assertQueue(process.env.QUEUE, { durable: true });
let outstanding = 0;
let wake;
for (const line of lines) {
  if (outstanding >= WINDOW) await new Promise((resolve) => (wake = resolve));
  outstanding++;
  const ok = ch.publish('', process.env.QUEUE, Buffer.from(line), options, (err) => {
    if (err) throw err;
    outstanding--;
    const w = wake;
    wake = undefined;
    w?.();
  });
  if (!ok) await once(ch, 'drain');
}
await ch.waitForConfirms();
await ch.close();
await conn.close();
