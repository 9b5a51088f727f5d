// Section 1, one-shot: wall time per message of fresh processes that each take one message, pipe it to
// `cat` and ack it, against the floor script, amqp-consume and `node -e 0`; plus the execa load pair.
import { expectOk, runTimed } from './lib/measure.mjs';
import { fill, freshQueue, depth } from './lib/broker.mjs';
import { mean, mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

export async function oneShot(ctx) {
  const { node, url, admin, floors, runs, warmup, statsDir, wqConsume, wqBlob, sea, haveAmqpTools } = ctx;
  const queue = await freshQueue(admin, 'oneshot');
  const env = { ...process.env, BROKER_URL: url, QUEUE: queue };
  const contenders = [
    ...(wqBlob ? [{ key: 'snap', name: 'wq-consume from its startup snapshot (the image\'s ENTRYPOINT)', argv: [node, '--snapshot-blob', wqBlob, '--', '-q', queue, '--', 'cat'], takes: true }] : []),
    { key: 'wq', name: 'wq-consume -c 1 -- cat (dist/wq-consume.mjs)', argv: [node, wqConsume, '-q', queue, '--', 'cat'], takes: true },
    ...(sea
      ? [
          { key: 'sea', name: 'wq-consume as one executable file (dist/wq-consume: Node 24, snapshot, addon inside)', argv: [sea.file, '-q', queue, '--', 'cat'], takes: true },
          { key: 'snap24', name: 'Node 24 from its own snapshot (dist/node24/wq-consume.blob)', argv: [sea.node24, '--snapshot-blob', sea.blob24, '--', '-q', queue, '--', 'cat'], takes: true },
        ]
      : []),
    { key: 'floor', name: 'floor (bench/floor-consume.mjs, bundled)', argv: [node, floors['floor-consume'], 'cat'], takes: true },
    { key: 'lean', name: 'leaner floor (bench/floor-consume-lean.cjs: CommonJS, bundled, no cancel)', argv: [node, floors['floor-consume-lean'], 'cat'], takes: true },
    ...(haveAmqpTools ? [{ key: 'amqp', name: 'amqp-consume -c 1 cat', argv: ['amqp-consume', '--url', url, '-q', queue, '-c', '1', 'cat'], takes: true }] : []),
    { key: 'node', name: 'node -e 0', argv: [node, '-e', '0'] },
    { key: 'execa', name: 'execa: import + run `true` (bundled)', argv: [node, floors['load-execa']] },
    { key: 'cp', name: 'node:child_process: import + spawn `true` (bundled)', argv: [node, floors['load-child-process']] },
  ];
  const takers = contenders.filter((c) => c.takes).length;
  await fill(admin, queue, (runs + warmup) * takers, (i) => `one-shot message ${i}\n`);

  const samples = Object.fromEntries(contenders.map((c) => [c.key, { wall: [], cpu: [], rss: [] }]));
  for (let round = 0; round < runs + warmup; round++) {
    for (const c of rotated(contenders, round)) {
      const r = expectOk(c.name, await runTimed(c.argv, { env, statsDir, timeoutMs: 30_000 }));
      if (round < warmup) continue;
      samples[c.key].wall.push(r.wallMs);
      samples[c.key].cpu.push(r.cpuMs);
      samples[c.key].rss.push(r.rssMb);
    }
    ctx.progress(`one-shot round ${round + 1}/${runs + warmup}`);
  }
  const left = await depth(admin, queue);
  if (left !== 0) throw new Error(`one-shot: ${left} messages left in ${queue}; every run should have acked exactly one`);

  const s = samples;
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].wall), cpuText(mean(s[c.key].cpu)), mmm(s[c.key].rss)]);
  const wqRssMax = Math.max(...s.wq.rss.filter(Number.isFinite));
  const execaDelta = s.execa.wall.map((w, i) => w - s.cp.wall[i]);
  const snapRssMax = wqBlob ? Math.max(...s.snap.rss.filter(Number.isFinite)) : NaN;
  const rss = (name, mb) => [name, Number.isFinite(mb) ? mb.toFixed(1) : 'n/a', '< 50', Number.isFinite(mb) ? (mb < 50 ? 'yes' : '**no**') : 'n/a'];
  const ratios = [
    ...(wqBlob ? [ratioRow('wq-consume from its snapshot / leaner floor, wall per message', pairedRatios(s.snap.wall, s.lean.wall), '<= 1.10', (m) => m <= 1.1)] : []),
    ratioRow('wq-consume.mjs / leaner floor, wall per message', pairedRatios(s.wq.wall, s.lean.wall), wqBlob ? 'info' : '<= 1.10', wqBlob ? undefined : (m) => m <= 1.1),
    ...(wqBlob ? [ratioRow('wq-consume from its snapshot / wq-consume.mjs, wall', pairedRatios(s.snap.wall, s.wq.wall), 'info')] : []),
    ratioRow('wq-consume.mjs / floor, wall per message', pairedRatios(s.wq.wall, s.floor.wall), 'info'),
    ...(sea
      ? [
          ratioRow('single executable / Node 24 from its snapshot (the same program and Node), wall', pairedRatios(s.sea.wall, s.snap24.wall), 'info'),
          // Node 24 itself starts bigger than Node 20 (the < 50 MB target is Node 20's): info, beside Node 24's snapshot.
          ['single executable / Node 24 from its snapshot, peak RSS, MB (max over runs)', `${Math.max(...s.sea.rss.filter(Number.isFinite)).toFixed(1)} / ${Math.max(...s.snap24.rss.filter(Number.isFinite)).toFixed(1)}`, 'info', ''],
        ]
      : []),
    ...(wqBlob ? [rss('wq-consume from its snapshot, peak RSS, MB (max over runs)', snapRssMax)] : []),
    rss('wq-consume.mjs peak RSS, MB (max over runs)', wqRssMax),
    ratioRow('leaner floor / floor, wall (ESM + cancel against CommonJS, no cancel)', pairedRatios(s.lean.wall, s.floor.wall), 'info'),
    ratioRow('floor / node -e 0 (what amqplib + one message cost over bare Node)', pairedRatios(s.floor.wall, s.node.wall), 'info'),
    ...(haveAmqpTools ? [ratioRow('wq-consume / amqp-consume', pairedRatios(s.wq.wall, s.amqp.wall), 'info')] : []),
    ratioRow('execa / node:child_process, wall', pairedRatios(s.execa.wall, s.cp.wall), 'info: why runner.ts uses node:child_process'),
    [`execa - node:child_process, ms per start`, mmm(execaDelta), 'info', ''],
  ];
  return {
    title: `1. One-shot (${runs} runs each, ${warmup} warm-up rounds discarded, contenders alternated)`,
    body: [
      table(['contender', 'wall ms, median (min-max)', 'CPU ms, mean (user+sys)', 'peak RSS MB'], rows),
      '',
      table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], ratios),
    ].join('\n'),
  };
}

// GNU time reports CPU in 10 ms steps: a process that needs less shows 0.
function cpuText(ms) {
  if (ms === undefined) return 'n/a';
  return ms < 10 ? '< 10' : ms.toFixed(0);
}
