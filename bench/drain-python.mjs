// Section 2b, a drain of a realistic worker: bench/worker.py (#!/usr/bin/python3 -S), one interpreter start
// per message, against amqp-consume with the same worker; and the code before the simplification of the
// core (--before REV) beside the current one. Throughput in steady state, as section 2.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectOk, runTimed } from './lib/measure.mjs';
import { depth, fill, freshQueue, removeQueue } from './lib/broker.mjs';
import { mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

const WORKER = fileURLToPath(new URL('./worker.py', import.meta.url));
const HELD = 50;

export async function drainPython(ctx) {
  const { node, url, admin, messages, rounds, statsDir, wqConsume, haveAmqpTools, before } = ctx;
  if (!haveAmqpTools) return { title: '2b. Drain of a Python worker', body: 'amqp-consume not installed (apt-get install -y amqp-tools): skipped' };
  const addon = join(dirname(wqConsume), 'wq-spawn.node');
  const haveAddon = existsSync(addon);
  const wq = (bundle, ...flags) => (queue) => [node, bundle, '-q', queue, '--until-empty', '--idle', '1', ...flags, '--', WORKER];
  const contenders = [
    { key: 'amqp', name: `amqp-consume -c ${messages} worker.py`, argv: (q) => ['amqp-consume', '--url', url, '-q', q, '-c', String(messages), WORKER] },
    { key: 'wq1', name: 'wq-consume --until-empty -- worker.py', argv: wq(wqConsume) },
    { key: 'wq2', name: 'wq-consume --until-empty -j 2 -- worker.py', argv: wq(wqConsume, '-j', '2') },
    ...(before ? [{ key: 'old1', name: `wq-consume at ${before.sha} (before the simplification) -- worker.py`, argv: wq(before.bundle) }] : []),
    // amqplib and wq's spawn with nothing of wq's around them (bench/floor-drain.mjs), wq's default prefetch.
    ...(haveAddon ? [{ key: 'lean1', name: "lean Node consumer: amqplib + wq's addon, prefetch 2 -- worker.py", argv: () => [node, ctx.floors['floor-drain'], WORKER], env: { COUNT: String(messages), PREFETCH: '2', WQ_SPAWN_ADDON: addon } }] : []),
    // The same, acks held and sent HELD at a time: what held acks would gain on this worker (they had to reach 1.10).
    ...(haveAddon ? [{ key: 'leanHeld', name: `lean Node consumer, acks held and sent ${HELD} at a time, prefetch ${2 * HELD} -- worker.py`, argv: () => [node, ctx.floors['floor-drain'], WORKER], env: { COUNT: String(messages), PREFETCH: String(2 * HELD), ACK_EVERY: String(HELD), WQ_SPAWN_ADDON: addon } }] : []),
  ];
  const env = { ...process.env, BROKER_URL: url };
  const markLine = Math.floor(messages / 10);
  const s = Object.fromEntries(contenders.map((c) => [c.key, { steady: [], cpu: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of rotated(contenders, round)) {
      const queue = await freshQueue(admin, `py-${c.key}`);
      await fill(admin, queue, messages);
      const r = expectOk(c.name, await runTimed(c.argv(queue), { env: { ...env, QUEUE: queue, ...c.env }, statsDir, lines: messages, markLine, timeoutMs: 600_000 }));
      const left = await depth(admin, queue);
      if (r.lines !== messages || left !== 0) throw new Error(`python drain ${c.name}: ${r.lines} lines printed, ${left} left in the queue; expected ${messages} and 0`);
      await removeQueue(admin, queue);
      s[c.key].steady.push((messages - markLine) / ((r.lastLineMs - r.markLineMs) / 1000));
      s[c.key].cpu.push(r.cpuMs / messages);
      ctx.progress(`python drain round ${round + 1}/${rounds}: ${c.name} ${s[c.key].steady.at(-1).toFixed(0)} msg/s steady`);
    }
  }
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].steady, 0), mmm(s[c.key].cpu, 2)]);
  const ratios = [
    ratioRow('wq-consume / amqp-consume, a Python worker, msg/s in steady state', pairedRatios(s.wq1.steady, s.amqp.steady), '>= 0.97', (m) => m >= 0.97),
    ratioRow('wq-consume -j 2 / amqp-consume, a Python worker', pairedRatios(s.wq2.steady, s.amqp.steady), 'info'),
    ...(haveAddon
      ? [
          ratioRow('lean Node consumer (amqplib + the addon) / amqp-consume, a Python worker (the most an amqplib consumer with this spawn reached)', pairedRatios(s.lean1.steady, s.amqp.steady), 'info'),
          ratioRow("wq-consume / lean Node consumer, a Python worker (what wq's own code costs)", pairedRatios(s.wq1.steady, s.lean1.steady), 'info'),
          ratioRow(`lean Node consumer, acks sent ${HELD} at a time / one at a time, a Python worker (what held acks would gain; they had to reach 1.10 to stay)`, pairedRatios(s.leanHeld.steady, s.lean1.steady), 'info'),
        ]
      : []),
    ...(before ? [ratioRow(`wq-consume at ${before.sha} / now: what the removed machinery gained on this worker (it had to reach 1.10 to stay)`, pairedRatios(s.old1.steady, s.wq1.steady), 'info')] : []),
  ];
  return {
    title: `2b. Drain of a Python worker (${messages} messages per run, ${rounds} run(s) each, order alternated)`,
    body: [table(['contender', 'msg/s in steady state, median (min-max)', 'CPU ms per message (consumer + its workers)'], rows), '', table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], ratios)].join('\n'),
  };
}
