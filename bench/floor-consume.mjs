// The floor for wq-consume's one-shot: the least a Node program can do to take one message, pipe it to a
// command and ack it after exit 0 -- amqplib + node:child_process, no argument parsing, no logging, no
// error mapping. The bench bundles it with the same esbuild options as dist/wq-consume.mjs.
// Usage: BROKER_URL=... QUEUE=... node floor-consume.mjs command [args...]
import amqp from 'amqplib';
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
const conn = await amqp.connect(process.env.BROKER_URL, { noDelay: true });
const ch = await conn.createChannel();
await ch.prefetch(1);
let cancelled;
await ch.consume(process.env.QUEUE, (msg) => {
  cancelled = ch.cancel('floor');
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.on('error', () => {});
  child.stdin.end(msg.content);
  child.on('exit', async (code) => {
    await cancelled;
    if (code === 0) ch.ack(msg);
    else ch.nack(msg, false, true);
    await ch.close();
    await conn.close();
    process.exit(code ?? 1);
  });
}, { consumerTag: 'floor' });
