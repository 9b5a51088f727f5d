// The naive long-lived Node consumer, Node's own floor for a drain: amqplib + node:child_process,
// `command` once per message, ack after exit 0, exits after COUNT messages. No logging, no env, no timers.
// Usage: BROKER_URL=... QUEUE=... COUNT=N [PREFETCH=1] node floor-drain.mjs command [args...]
import amqp from 'amqplib';
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
const count = Number(process.env.COUNT);
const conn = await amqp.connect(process.env.BROKER_URL, { noDelay: true });
const ch = await conn.createChannel();
await ch.prefetch(Number(process.env.PREFETCH ?? 1));
let done = 0;
const queue = [];
let busy = false;
await ch.consume(process.env.QUEUE, (msg) => {
  queue.push(msg);
  if (!busy) next();
});

function next() {
  const msg = queue.shift();
  if (!msg) return void (busy = false);
  busy = true;
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.on('error', () => {});
  child.stdin.end(msg.content);
  child.on('exit', async (code) => {
    if (code !== 0) process.exit(code ?? 1);
    ch.ack(msg);
    if (++done === count) {
      await ch.close();
      await conn.close();
      process.exit(0);
    }
    next();
  });
}
