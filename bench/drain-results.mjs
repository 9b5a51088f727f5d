// Section 5, results as messages: the same whole-process drain of N messages (`-c N`, start and exit
// included) with and without --result-queue, on `cat` and on the Python worker. With it, every command's
// stdout goes to a file, is read back and published, and the input is acked only after the result's confirm.
// Beside them, the lean consumer (bench/floor-drain.mjs: amqplib + wq's addon, nothing else) with and
// without results, at wq's prefetch: what sending results costs any consumer here, and what wq adds to it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectOk, runTimed } from './lib/measure.mjs';
import { depth, fill, freshQueue, removeQueue } from './lib/broker.mjs';
import { mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

const WORKER = fileURLToPath(new URL('./worker.py', import.meta.url));

export async function drainResults(ctx) {
  const { node, url, admin, messages, rounds, statsDir, wqConsume } = ctx;
  const n = String(messages);
  const run = (worker) => (q, out) => [node, wqConsume, '-q', q, '-c', n, ...(out ? ['--result-queue', out] : []), '--', ...worker];
  const addon = join(dirname(wqConsume), 'wq-spawn.node');
  const lean = (results) => ({
    key: results ? 'leanR' : 'lean',
    name: `lean Node consumer${results ? ' with results' : ''}, prefetch ${results ? 3 : 2} (bench/floor-drain.mjs) -- cat`,
    argv: () => [node, ctx.floors['floor-drain'], '/bin/cat'],
    env: (q, out) => ({ QUEUE: q, COUNT: n, PREFETCH: results ? '3' : '2', WQ_SPAWN_ADDON: addon, ...(out ? { RESULT_QUEUE: out } : {}) }),
    results,
  });
  const haveLean = existsSync(addon);
  const contenders = [
    { key: 'cat', name: `wq-consume -c ${n} -- cat`, argv: run(['cat']), results: false },
    { key: 'catR', name: `wq-consume -c ${n} --result-queue R -- cat`, argv: run(['cat']), results: true },
    ...(haveLean ? [lean(false), lean(true)] : []),
    { key: 'py', name: `wq-consume -c ${n} -- worker.py`, argv: run([WORKER]), results: false },
    { key: 'pyR', name: `wq-consume -c ${n} --result-queue R -- worker.py`, argv: run([WORKER]), results: true },
  ];
  const env = { ...process.env, BROKER_URL: url };
  const samples = Object.fromEntries(contenders.map((c) => [c.key, { rate: [], cpu: [], rss: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of rotated(contenders, round)) {
      const queue = await freshQueue(admin, `results-${c.key}`);
      const out = c.results ? await freshQueue(admin, `results-${c.key}-out`) : undefined;
      await fill(admin, queue, messages);
      const r = expectOk(c.name, await runTimed(c.argv(queue, out), { env: { ...env, ...c.env?.(queue, out) }, statsDir, lines: c.results ? undefined : messages, timeoutMs: 600_000 }));
      const left = await depth(admin, queue);
      const sent = out ? await depth(admin, out) : r.lines;
      if (sent !== messages || left !== 0) throw new Error(`results drain ${c.name}: ${sent} results, ${left} left in the queue; expected ${messages} and 0`);
      await removeQueue(admin, queue);
      if (out) await removeQueue(admin, out);
      samples[c.key].rate.push(messages / (r.wallMs / 1000));
      samples[c.key].cpu.push(r.cpuMs / messages);
      samples[c.key].rss.push(r.rssMb);
      ctx.progress(`results drain round ${round + 1}/${rounds}: ${c.name} ${(messages / (r.wallMs / 1000)).toFixed(0)} msg/s`);
    }
  }
  const s = samples;
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].rate, 0), mmm(s[c.key].cpu, 2), mmm(s[c.key].rss)]);
  return {
    title: `5. Results as messages (${messages} messages, -c ${messages}, start and exit included; ${rounds} run(s) each, order alternated)`,
    body: [
      table(['contender', 'msg/s, spawn to exit, median (min-max)', 'CPU ms per message (consumer + its commands)', 'peak RSS MB'], rows),
      '',
      table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], [
        ratioRow('cat: with --result-queue / without, msg/s', pairedRatios(s.catR.rate, s.cat.rate), '>= 0.90', (m) => m >= 0.9),
        ratioRow('Python worker: with --result-queue / without, msg/s', pairedRatios(s.pyR.rate, s.py.rate), 'info'),
        ...(haveLean
          ? [
              ratioRow('lean consumer, cat: with results / without, msg/s (what sending results costs an amqplib consumer that does nothing else)', pairedRatios(s.leanR.rate, s.lean.rate), 'info'),
              ratioRow('wq-consume --result-queue / lean consumer with results, cat, msg/s (what wq\'s own code costs on this path)', pairedRatios(s.catR.rate, s.leanR.rate), 'info'),
            ]
          : []),
      ]),
    ].join('\n'),
  };
}
