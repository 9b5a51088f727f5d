// Section 3, the drain as whole processes (issue 15): N messages, `-c N` for both wq-consume and
// amqp-consume, so each exits by itself after the Nth; the rate counts start-up, every message and the exit.
import { expectOk, runTimed } from './lib/measure.mjs';
import { depth, fill, freshQueue, removeQueue } from './lib/broker.mjs';
import { mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

export async function drainWhole(ctx) {
  const { node, url, admin, messages, rounds, statsDir, wqConsume, wqBlob, haveAmqpTools } = ctx;
  if (!haveAmqpTools) return { title: '3. Whole-process drain', body: 'amqp-consume not installed (apt-get install -y amqp-tools): skipped' };
  const n = String(messages);
  const contenders = [
    { key: 'amqp', name: `amqp-consume -c ${n} cat`, argv: (q) => ['amqp-consume', '--url', url, '-q', q, '-c', n, 'cat'] },
    { key: 'wq', name: `wq-consume -c ${n} -- cat`, argv: (q) => [node, wqConsume, '-q', q, '-c', n, '--', 'cat'] },
    { key: 'snap', name: `wq-consume from its startup snapshot (the image's ENTRYPOINT) -c ${n} -- cat`, argv: (q) => [node, '--snapshot-blob', wqBlob, '--', '-q', q, '-c', n, '--', 'cat'] },
  ];
  const env = { ...process.env, BROKER_URL: url };
  const samples = Object.fromEntries(contenders.map((c) => [c.key, { rate: [], wall: [], cpu: [], rss: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of rotated(contenders, round)) {
      const queue = await freshQueue(admin, `whole-${c.key}`);
      await fill(admin, queue, messages);
      const r = expectOk(c.name, await runTimed(c.argv(queue), { env: { ...env, QUEUE: queue }, statsDir, lines: messages, timeoutMs: 600_000 }));
      const left = await depth(admin, queue);
      if (r.lines !== messages || left !== 0) throw new Error(`whole drain ${c.name}: ${r.lines} bodies printed, ${left} left in the queue; expected ${messages} and 0`);
      await removeQueue(admin, queue);
      samples[c.key].rate.push(messages / (r.wallMs / 1000));
      samples[c.key].wall.push(r.wallMs / 1000);
      samples[c.key].cpu.push(r.cpuMs / messages);
      samples[c.key].rss.push(r.rssMb);
      ctx.progress(`whole drain round ${round + 1}/${rounds}: ${c.name} ${(messages / (r.wallMs / 1000)).toFixed(0)} msg/s`);
    }
  }
  const s = samples;
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].rate, 0), mmm(s[c.key].wall, 2), mmm(s[c.key].cpu, 2), mmm(s[c.key].rss)]);
  return {
    title: `3. Whole-process drain (${messages} messages, -c ${messages} for both, start and exit included; ${rounds} run(s) each, order alternated)`,
    body: [
      table(['contender', 'msg/s, spawn to exit, median (min-max)', 'wall s', 'CPU ms per message (consumer + its cats)', 'peak RSS MB'], rows),
      '',
      table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], [
        ratioRow('wq-consume / amqp-consume, msg/s, whole processes', pairedRatios(s.wq.rate, s.amqp.rate), '>= 0.9', (m) => m >= 0.9),
        ratioRow('wq-consume from its snapshot / amqp-consume, msg/s, whole processes', pairedRatios(s.snap.rate, s.amqp.rate), 'info'),
      ]),
    ].join('\n'),
  };
}
