// The naive long-lived Node consumer, Node's own floor for a drain: amqplib + node:child_process,
// `command` once per message, ack after exit 0, exits after COUNT messages. No logging, no env, no timers.
// With WQ_SPAWN_ADDON (the path of dist/wq-spawn.node) it starts the command through that addon instead,
// as wq-consume does: the lean consumer, amqplib and the same spawn with nothing of wq's around them (the
// command must then be a path). CONCURRENCY commands at a time (default 1). As in wq-consume, the next
// command starts before the finished one's message is acked.
// With RESULT_QUEUE (and the addon), results as wq sends them: stdout to an unlinked file, read back after
// exit 0, published persistent and mandatory on a confirm channel of its own, the input acked after the
// confirm. Nothing else of wq's: no headers but the correlation id, no return or size handling.
// With ACK_EVERY=K (one at a time only), acks are held and sent K at a time (basic.ack with multiple): what
// held acks, which wq no longer has, would gain, measured beside the rest so that the trade is on record.
// Usage: BROKER_URL=... QUEUE=... COUNT=N [PREFETCH=1] [CONCURRENCY=1] [WQ_SPAWN_ADDON=...] [RESULT_QUEUE=...] [ACK_EVERY=K] node floor-drain.mjs command [args...]
import amqp from 'amqplib';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [command, ...args] = process.argv.slice(2);
const count = Number(process.env.COUNT);
const concurrency = Number(process.env.CONCURRENCY ?? 1);
const ackEvery = Number(process.env.ACK_EVERY ?? 1);
// A multiple ack covers every earlier delivery: with more than one command at a time, a running one's too.
if (ackEvery > 1 && concurrency > 1) throw new Error('ACK_EVERY needs CONCURRENCY=1');
const addon = process.env.WQ_SPAWN_ADDON ? createRequire(import.meta.url)(process.env.WQ_SPAWN_ADDON) : undefined;
const envp = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
const conn = await amqp.connect(process.env.BROKER_URL, { noDelay: true });
const ch = await conn.createChannel();
await ch.prefetch(Number(process.env.PREFETCH ?? 1));
const resultQueue = process.env.RESULT_QUEUE;
const results = resultQueue ? await conn.createConfirmChannel() : undefined;
const dir = resultQueue ? mkdtempSync(join(tmpdir(), 'floor-drain-')) : undefined;
let seq = 0;
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
  const out = dir ? openSync(join(dir, String(++seq)), 'wx+', 0o600) : -1;
  if (dir) unlinkSync(join(dir, String(seq)));
  run(msg.content, out, async (code) => {
    running--;
    if (code !== 0) process.exit(code ?? 1);
    next();
    if (results) await sendResult(msg, out);
    if (++done % ackEvery === 0 || done === count) ch.ack(msg, ackEvery > 1);
    if (done === count) {
      await ch.close();
      await conn.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

function sendResult(msg, fd) {
  const output = Buffer.allocUnsafe(fstatSync(fd).size);
  for (let at = 0; at < output.length; ) {
    const n = readSync(fd, output, at, output.length - at, at);
    if (n === 0) break;
    at += n;
  }
  closeSync(fd);
  return new Promise((resolve, reject) =>
    results.publish('', resultQueue, output, { persistent: true, mandatory: true, correlationId: msg.properties.messageId }, (err) => (err ? reject(err) : resolve())),
  );
}

function run(body, out, onExit) {
  if (addon) {
    const r = addon.spawn(command, [command, ...args], envp, body, onExit, out);
    if (typeof r === 'number') throw new Error(`spawn ${command}: errno ${-r}`);
    return;
  }
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.on('error', () => {});
  child.stdin.end(body);
  child.on('exit', onExit);
}
