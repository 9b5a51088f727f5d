// The naive long-lived Node consumer, Node's own floor for a drain: amqplib + node:child_process,
// `command` once per message, ack after exit 0, exits after COUNT messages. No logging, no env, no timers.
// With WQ_SPAWN_ADDON (the path of dist/wq-spawn.node) it starts the command through that addon instead,
// as wq-consume does: the lean consumer, amqplib and the same spawn with nothing of wq's around them (the
// command must then be a path). CONCURRENCY commands at a time (default 1). As in wq-consume, the next
// command starts before the finished one's message is acked.
// Usage: BROKER_URL=... QUEUE=... COUNT=N [PREFETCH=1] [CONCURRENCY=1] [WQ_SPAWN_ADDON=...] node floor-drain.mjs command [args...]
import amqp from 'amqplib';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const [command, ...args] = process.argv.slice(2);
const count = Number(process.env.COUNT);
const concurrency = Number(process.env.CONCURRENCY ?? 1);
const addon = process.env.WQ_SPAWN_ADDON ? createRequire(import.meta.url)(process.env.WQ_SPAWN_ADDON) : undefined;
const envp = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
const conn = await amqp.connect(process.env.BROKER_URL, { noDelay: true });
const ch = await conn.createChannel();
await ch.prefetch(Number(process.env.PREFETCH ?? 1));
let done = 0;
const queue = [];
let running = 0;
await ch.consume(process.env.QUEUE, (msg) => {
  queue.push(msg);
  if (running < concurrency) next();
});

function next() {
  const msg = queue.shift();
  if (!msg) return;
  running++;
  run(msg.content, async (code) => {
    running--;
    if (code !== 0) process.exit(code ?? 1);
    next();
    ch.ack(msg);
    if (++done === count) {
      await ch.close();
      await conn.close();
      process.exit(0);
    }
  });
}

function run(body, onExit) {
  if (addon) {
    const r = addon.spawn(command, [command, ...args], envp, body, onExit, -1);
    if (typeof r === 'number') throw new Error(`spawn ${command}: errno ${-r}`);
    return;
  }
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.on('error', () => {});
  child.stdin.end(body);
  child.on('exit', onExit);
}
