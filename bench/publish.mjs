// Section 3, publish: wq-publish --file over N lines against the minimal confirm-window publisher
// (bench/floor-publish.mjs), and a few hundred items against one amqp-publish process per item.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectOk, runTimed } from './lib/measure.mjs';
import { depth, freshQueue, removeQueue } from './lib/broker.mjs';
import { mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

const LOOP = 'while IFS= read -r line; do amqp-publish --url "$BROKER_URL" -r "$QUEUE" -p -b "$line" || exit 1; done < "$1"';

export async function publish(ctx) {
  const { node, url, admin, messages, loopItems, rounds, statsDir, buildDir, floors, wqPublish, haveAmqpTools } = ctx;
  const bigFile = join(buildDir, 'items.txt');
  const smallFile = join(buildDir, 'items-loop.txt');
  const line = (i) => `item-${String(i).padStart(7, '0')} {"n":${i}}`;
  writeFileSync(bigFile, Array.from({ length: messages }, (_, i) => line(i)).join('\n') + '\n');
  writeFileSync(smallFile, Array.from({ length: loopItems }, (_, i) => line(i)).join('\n') + '\n');
  const haveWq = existsSync(wqPublish);

  const contenders = [
    { key: 'floor', name: `floor (bench/floor-publish.mjs, window 1000), ${messages} msgs`, count: messages, declare: false, argv: () => [node, floors['floor-publish'], bigFile] },
    { key: 'floorm', name: `floor with the mandatory flag, as wq-publish sets it (MANDATORY=1), ${messages} msgs`, count: messages, declare: false, env: { MANDATORY: '1' }, argv: () => [node, floors['floor-publish'], bigFile] },
    ...(haveWq
      ? [
          { key: 'wq', name: `wq-publish --file, ${messages} msgs`, count: messages, declare: false, argv: (q) => [node, wqPublish, '-q', q, '--file', bigFile] },
          { key: 'wq1k', name: `wq-publish --file --window 1000 (the floor's window), ${messages} msgs`, count: messages, declare: false, argv: (q) => [node, wqPublish, '-q', q, '--window', '1000', '--file', bigFile] },
        ]
      : []),
    ...(haveAmqpTools ? [{ key: 'loop', name: `amqp-publish per item (sh loop), ${loopItems} msgs`, count: loopItems, declare: true, argv: () => ['sh', '-c', LOOP, 'loop', smallFile] }] : []),
  ];
  const samples = Object.fromEntries(contenders.map((c) => [c.key, { rate: [], wall: [], rss: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of rotated(contenders, round)) {
      const queue = await freshQueue(admin, `publish-${c.key}`, c.declare);
      const r = expectOk(c.name, await runTimed(c.argv(queue), { env: { ...process.env, BROKER_URL: url, QUEUE: queue, ...c.env }, statsDir, timeoutMs: 600_000 }));
      const landed = await depth(admin, queue);
      if (landed !== c.count) throw new Error(`publish ${c.name}: ${landed} messages in the queue, expected ${c.count}`);
      await removeQueue(admin, queue);
      samples[c.key].rate.push(c.count / (r.wallMs / 1000));
      samples[c.key].wall.push(r.wallMs / 1000);
      samples[c.key].rss.push(r.rssMb);
      ctx.progress(`publish round ${round + 1}/${rounds}: ${c.name} ${(c.count / (r.wallMs / 1000)).toFixed(0)} msg/s`);
    }
  }
  const s = samples;
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].rate, 0), mmm(s[c.key].wall, 2), mmm(s[c.key].rss)]);
  if (!haveWq) rows.splice(1, 0, [`wq-publish: **not built** (${wqPublish} missing)`, 'n/a', 'n/a', 'n/a']);
  const ratios = [
    haveWq ? ratioRow('wq-publish / floor publisher, msg/s', pairedRatios(s.wq.rate, s.floor.rate), '>= 0.95', (m) => m >= 0.95) : ['wq-publish / floor publisher, msg/s', 'not built', '>= 0.95', 'n/a'],
    ...(haveWq
      ? [
          ratioRow('wq-publish --window 1000 / floor publisher, msg/s (the same window: what the default window of 4000 gains is the difference)', pairedRatios(s.wq1k.rate, s.floor.rate), 'info'),
          ratioRow('wq-publish / the floor with the mandatory flag, msg/s (the same broker work)', pairedRatios(s.wq.rate, s.floorm.rate), 'info'),
          ratioRow('floor with the mandatory flag / floor, msg/s (what mandatory costs)', pairedRatios(s.floorm.rate, s.floor.rate), 'info'),
        ]
      : []),
    haveWq && haveAmqpTools ? ratioRow('wq-publish / amqp-publish per item, msg/s', pairedRatios(s.wq.rate, s.loop.rate), '> 100', (m) => m > 100) : ['wq-publish / amqp-publish per item, msg/s', haveWq ? 'amqp-tools missing' : 'not built', '> 100', 'n/a'],
    ...(haveAmqpTools ? [ratioRow('floor publisher / amqp-publish per item, msg/s', pairedRatios(s.floor.rate, s.loop.rate), 'info')] : []),
  ];
  return {
    title: `4. Publish (persistent messages; ${rounds} run(s) each, order alternated; rates include process start and exit)`,
    body: [
      table(['contender', 'msg/s, median (min-max)', 'wall s', 'peak RSS MB'], rows),
      '',
      table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], ratios),
    ].join('\n'),
  };
}
