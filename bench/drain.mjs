// Section 2, drain: one long-lived consumer over N messages, `cat` per message, against amqp-consume -c N.
// Two throughputs, both to the Nth body out of the commands' stdout, neither counting wq's --idle wait at
// the end (reported separately as wall time): the steady state, from the body N/10 on (the targets:
// a Node start of ~150 ms is then out), and from spawn (start-up
// included; section 3 measures whole processes).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expectOk, runTimed } from './lib/measure.mjs';
import { depth, fill, freshQueue, removeQueue } from './lib/broker.mjs';
import { mmm, pairedRatios, rotated } from './lib/stats.mjs';
import { ratioRow, table } from './lib/report.mjs';

export async function drain(ctx) {
  const { node, url, admin, messages, rounds, statsDir, wqConsume, haveAmqpTools, variants, before } = ctx;
  const IDLE_S = 1;
  const HELD = 50;
  const wqOf = (bundle) => (...flags) => (queue) => [node, bundle, '-q', queue, '--until-empty', '--idle', String(IDLE_S), ...flags, '--', 'cat'];
  const wq = wqOf(wqConsume);
  const addon = join(dirname(wqConsume), 'wq-spawn.node');
  const haveAddon = existsSync(addon);
  const cat = '/bin/cat';
  const spawnFloor = (k) => ({
    key: `spawn${k}`,
    name: `spawn ceiling: ${k} at a time, no broker (bench/floor-spawn.mjs)`,
    argv: () => [node, ctx.floors['floor-spawn'], cat],
    env: { COUNT: String(messages), CONCURRENCY: String(k), WQ_SPAWN_ADDON: addon },
    noBroker: true,
  });
  const leanConsumer = (k) => ({
    key: `lean${k}`,
    name: `lean Node consumer: amqplib + wq's addon, ${k} at a time, prefetch ${k + 1} (bench/floor-drain.mjs)`,
    argv: () => [node, ctx.floors['floor-drain'], cat],
    env: { COUNT: String(messages), PREFETCH: String(k + 1), CONCURRENCY: String(k), WQ_SPAWN_ADDON: addon },
  });
  const contenders = [
    ...(haveAmqpTools ? [{ key: 'amqp', name: `amqp-consume -c ${messages} cat`, argv: (q) => ['amqp-consume', '--url', url, '-q', q, '-c', String(messages), 'cat'] }] : []),
    { key: 'wq1', name: 'wq-consume --until-empty -- cat', argv: wq() },
    { key: 'wq2', name: 'wq-consume --until-empty --concurrency 2 -- cat', argv: wq('--concurrency', '2') },
    // The code before the simplification of the core (armed starts, a grown prefetch, held acks).
    ...(before
      ? [
          { key: 'old1', name: `wq-consume at ${before.sha} (before the simplification) -- cat`, argv: wqOf(before.bundle)() },
          { key: 'old2', name: `wq-consume at ${before.sha} --concurrency 2 -- cat`, argv: wqOf(before.bundle)('--concurrency', '2') },
        ]
      : []),
    // Short items only: more messages ahead, at the price of fairness between pods for long ones.
    { key: 'wq2p6', name: 'wq-consume --until-empty --concurrency 2 --prefetch 6 -- cat', argv: wq('--concurrency', '2', '--prefetch', '6') },
    // The same wq-consume with the addon turned off: what posix_spawn gains over node:child_process.
    { key: 'wqcp', name: 'wq-consume --until-empty -- cat, WQ_SPAWN=child_process', argv: wq(), env: { WQ_SPAWN: 'child_process' } },
    ...(haveAddon ? [spawnFloor(1), spawnFloor(2)] : []),
    // Node's own floor for this loop: amqplib + child_process, nothing else, the same prefetch as wq's default.
    { key: 'naive', name: 'naive Node consumer (bench/floor-drain.mjs, prefetch 2)', argv: () => [node, ctx.floors['floor-drain'], 'cat'], env: { COUNT: String(messages), PREFETCH: '2' } },
    // The same loop with wq's spawn: what any amqplib consumer with this addon reaches, wq's core left out.
    ...(haveAddon ? [leanConsumer(1), leanConsumer(2)] : []),
    // The same, acks held and sent 50 at a time: what held acks (wq's before the simplification) would gain.
    ...(haveAddon ? [{ ...leanConsumer(1), key: 'leanHeld', name: `lean Node consumer, 1 at a time, acks held and sent ${HELD} at a time, prefetch ${2 * HELD} (bench/floor-drain.mjs)`, env: { ...leanConsumer(1).env, PREFETCH: String(2 * HELD), ACK_EVERY: String(HELD) } }] : []),
    ...(variants
      ? [
          { key: 'wqp1', name: 'wq-consume --until-empty --prefetch 1 -- cat (no message ahead)', argv: wq('--prefetch', '1') },
          { key: 'naive1', name: 'naive Node consumer, prefetch 1', argv: () => [node, ctx.floors['floor-drain'], 'cat'], env: { COUNT: String(messages), PREFETCH: '1' } },
        ]
      : []),
  ];
  const env = { ...process.env, BROKER_URL: url };
  const markLine = Math.floor(messages / 10);
  const samples = Object.fromEntries(contenders.map((c) => [c.key, { steady: [], rate: [], wall: [], cpu: [], rss: [], end: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of rotated(contenders, round)) {
      const queue = await freshQueue(admin, `drain-${c.key}`);
      if (!c.noBroker) await fill(admin, queue, messages);
      const r = expectOk(c.name, await runTimed(c.argv(queue), { env: { ...env, QUEUE: queue, ...c.env }, statsDir, lines: messages, markLine, timeoutMs: 600_000 }));
      const left = await depth(admin, queue);
      if (r.lines !== messages || left !== 0) throw new Error(`drain ${c.name}: ${r.lines} bodies printed, ${left} left in the queue; expected ${messages} and 0`);
      await removeQueue(admin, queue);
      samples[c.key].steady.push((messages - markLine) / ((r.lastLineMs - r.markLineMs) / 1000));
      samples[c.key].rate.push(messages / (r.lastLineMs / 1000));
      samples[c.key].wall.push(r.wallMs / 1000);
      samples[c.key].cpu.push(r.cpuMs / messages);
      samples[c.key].rss.push(r.rssMb);
      // The end of a drain: from the last body on stdout to the exit, minus the --idle wait.
      samples[c.key].end.push(r.wallMs - r.lastLineMs - IDLE_S * 1000);
      ctx.progress(`drain round ${round + 1}/${rounds}: ${c.name} ${samples[c.key].steady.at(-1).toFixed(0)} msg/s steady, ${samples[c.key].rate.at(-1).toFixed(0)} from spawn`);
    }
  }
  const s = samples;
  const rows = contenders.map((c) => [c.name, mmm(s[c.key].steady, 0), mmm(s[c.key].rate, 0), mmm(s[c.key].wall, 2), mmm(s[c.key].cpu, 2), mmm(s[c.key].rss)]);
  const ratios = haveAmqpTools
    ? [
        ratioRow('wq-consume / amqp-consume, msg/s in steady state, concurrency 1', pairedRatios(s.wq1.steady, s.amqp.steady), '>= 0.90', (m) => m >= 0.9),
        ratioRow('the same from spawn (start-up included)', pairedRatios(s.wq1.rate, s.amqp.rate), 'info'),
        ratioRow('wq-consume --concurrency 2 / amqp-consume, msg/s in steady state', pairedRatios(s.wq2.steady, s.amqp.steady), '>= 1.3', (m) => m >= 1.3),
        ratioRow('the same from spawn (start-up included)', pairedRatios(s.wq2.rate, s.amqp.rate), 'info'),
        ratioRow('wq-consume --concurrency 2 --prefetch 6 / amqp-consume, msg/s in steady state (short items: more messages ahead)', pairedRatios(s.wq2p6.steady, s.amqp.steady), 'info'),
        ...(before
          ? [
              ratioRow(`wq-consume at ${before.sha} / now, cat, concurrency 1: what the removed machinery gained on a 1 ms command`, pairedRatios(s.old1.steady, s.wq1.steady), 'info'),
              ratioRow(`the same at --concurrency 2`, pairedRatios(s.old2.steady, s.wq2.steady), 'info'),
            ]
          : []),
        ratioRow('naive Node consumer / amqp-consume, msg/s (Node\'s own ceiling here)', pairedRatios(s.naive.steady, s.amqp.steady), 'info'),
        ratioRow('wq-consume / naive Node consumer, msg/s in steady state', pairedRatios(s.wq1.steady, s.naive.steady), 'info'),
        ratioRow('wq-consume / the same with WQ_SPAWN=child_process (what posix_spawn gains), msg/s', pairedRatios(s.wq1.steady, s.wqcp.steady), 'info'),
        ...(haveAddon
          ? [
              // What the -j 1 target asks, against what Node with this addon reaches with no broker at all.
              ratioRow('spawn ceiling 1 at a time / amqp-consume, msg/s (no broker: the most a Node consumer starting commands from its event loop can reach at -j 1)', pairedRatios(s.spawn1.steady, s.amqp.steady), 'info'),
              ratioRow('wq-consume / spawn ceiling 1 at a time', pairedRatios(s.wq1.steady, s.spawn1.steady), 'info'),
              ratioRow('spawn ceiling 2 at a time / 1 at a time (does process creation scale over cores here?)', pairedRatios(s.spawn2.steady, s.spawn1.steady), 'info'),
              ratioRow('spawn ceiling 2 at a time / amqp-consume, msg/s', pairedRatios(s.spawn2.steady, s.amqp.steady), 'info'),
              ratioRow('wq-consume --concurrency 2 / spawn ceiling 2 at a time', pairedRatios(s.wq2.steady, s.spawn2.steady), 'info'),
              // With the broker: the same spawn and amqplib, nothing of wq's. What is left between wq and this is wq's own cost.
              ratioRow('lean Node consumer (amqplib + the addon) 1 at a time / amqp-consume, msg/s (the most an amqplib consumer with this spawn reached)', pairedRatios(s.lean1.steady, s.amqp.steady), 'info'),
              ratioRow('wq-consume / lean Node consumer, 1 at a time, msg/s (what wq\'s own code costs)', pairedRatios(s.wq1.steady, s.lean1.steady), 'info'),
              ratioRow('lean Node consumer 2 at a time / amqp-consume, msg/s', pairedRatios(s.lean2.steady, s.amqp.steady), 'info'),
              ratioRow('wq-consume --concurrency 2 / lean Node consumer 2 at a time, msg/s', pairedRatios(s.wq2.steady, s.lean2.steady), 'info'),
              ratioRow(`lean Node consumer, acks sent ${HELD} at a time / one at a time, msg/s (what held acks would gain on a 1 ms command)`, pairedRatios(s.leanHeld.steady, s.lean1.steady), 'info'),
            ]
          : []),
        ...(variants
          ? [
              ratioRow('wq-consume / wq-consume --prefetch 1 (what the message ahead gains), msg/s', pairedRatios(s.wq1.steady, s.wqp1.steady), 'info'),
              ratioRow('naive prefetch 2 / naive prefetch 1, msg/s', pairedRatios(s.naive.steady, s.naive1.steady), 'info'),
            ]
          : []),
      ]
    : [['amqp-consume not installed (apt-get install -y amqp-tools)', 'n/a', '', '']];
  const endMs = [...s.wq1.end, ...s.wq2.end].sort((a, b) => a - b);
  const endMedian = endMs[endMs.length >> 1];
  ratios.push([
    `end of a drain: last body to exit, minus --idle ${IDLE_S}, ms (wq-consume --until-empty, concurrency 1 and 2)`,
    `${mmm(endMs, 0)}`,
    '<= 100',
    endMs.length ? (endMs.at(-1) <= 100 ? 'yes' : endMedian <= 100 ? 'median yes, max **no**' : '**no**') : 'n/a',
  ]);
  return {
    title: `2. Drain (${messages} messages per run, ${rounds} run(s) each, order alternated)`,
    body: [
      table(['contender', `msg/s in steady state (body ${markLine} to the last), median (min-max)`, 'msg/s from spawn to the last body', 'wall s incl. start and exit (wq: + --idle 1)', 'CPU ms per message (consumer + its cats)', 'peak RSS MB'], rows),
      '',
      table(['comparison (median of per-round ratios, min-max)', 'measured', 'target', 'met'], ratios),
    ].join('\n'),
  };
}
