// A model of KEDA's ScaledJob `accurate` scaling strategy, run against the real broker with real
// wq-consume processes as the Jobs' pods. It is a model of KEDA's formula, not KEDA itself: no cluster,
// no kubelet, no readiness-probe period (the probe is read at poll time).
//   node bench/keda.mjs [--messages N] [--poll-ms MS] [--pull-ms MS] [--start-ms MS] [--work-ms MS]
//                       [--max-replicas N] [--probe-ms MS] [--rounds N] [--out FILE]
//
// Followed: KEDA 2.x, pkg/scaling/executor/scale_jobs.go (kedacore/keda main branch, 2025):
//   maxScale = min(maxReplicaCount, ceil(queueLength / targetValue))
//   accurateScalingStrategy: if maxScale + running > maxReplicaCount { return maxReplicaCount - running }
//                            return maxScale - pending        (then created = max(0, that))
//   running = Jobs not yet Complete/Failed
//   pending = running Jobs whose pod is not Running or Succeeded             (no pendingPodConditions)
//           = running Jobs whose pod does not have every pendingPodCondition (pendingPodConditions: [Ready])
// The rabbitmq scaler with protocol amqp reads queueLength from a passive queue.declare: ready messages
// only, so a message a pod holds (unacked) is not counted; a pod still starting holds none.
//
// Each created Job's pod: Pending for --pull-ms (scheduling, image pull), then Running; the container needs
// --start-ms more before wq-consume starts (runtime and network start-up, a sidecar, an init step), then
// wq-consume's own start-up and connect. The worker takes --work-ms. The pod runs
//   wq-consume -c 1 --until-empty --idle 3 --acquired-file F -- worker
// and with pendingPodConditions [Ready] the pod is Ready while F exists (readinessProbe test -f F), in two
// forms: the file read at poll time ("instant"), and a probe every --probe-ms that sets Ready ("probe", as
// the kubelet does with periodSeconds; k8s/scaledjob.yaml uses 2 s).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanup, fill, freshQueue, openAdmin } from './lib/broker.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: f } = parseArgs({
  options: {
    messages: { type: 'string' },
    'poll-ms': { type: 'string' },
    'pull-ms': { type: 'string' },
    'start-ms': { type: 'string' },
    'work-ms': { type: 'string' },
    'max-replicas': { type: 'string' },
    'probe-ms': { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string' },
  },
});
const P = {
  messages: Number(f.messages ?? 12),
  pollMs: Number(f['poll-ms'] ?? 1000),
  pullMs: Number(f['pull-ms'] ?? 3000),
  startMs: Number(f['start-ms'] ?? 1500),
  workMs: Number(f['work-ms'] ?? 2000),
  maxReplicas: Number(f['max-replicas'] ?? 30),
  probeMs: Number(f['probe-ms'] ?? 2000),
  rounds: Number(f.rounds ?? 3),
  idleSeconds: 3,
  trickleMs: 700,
};
const url = process.env.BROKER_URL ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const wqConsume = join(ROOT, 'dist/wq-consume.mjs');
if (!existsSync(wqConsume)) throw new Error('dist/wq-consume.mjs is missing: run `npm run build` first');

/** KEDA's accurate strategy, as in scale_jobs.go. */
export function accurate(queueLength, running, pending, maxReplicas, target = 1) {
  const maxScale = Math.min(maxReplicas, Math.ceil(queueLength / target));
  const effective = maxScale + running > maxReplicas ? maxReplicas - running : maxScale - pending;
  return Math.max(0, effective);
}

async function scenario(admin, mode, arrival) {
  const queue = await freshQueue(admin, `keda-${mode}-${arrival}`);
  const dir = mkdtempSync(join(tmpdir(), 'wq-keda-'));
  const jobs = [];
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => (timers.delete(t), fn()), ms);
    timers.add(t);
  };
  const createJob = () => {
    const job = { id: jobs.length, phase: 'Pending', ready: false, finished: false, exitCode: undefined, acquired: join(dir, `acquired-${jobs.length}`), done: join(dir, `done-${jobs.length}`) };
    jobs.push(job);
    later(P.pullMs, () => {
      job.phase = 'Running';
      const probe = setInterval(() => (job.ready = !job.finished && existsSync(job.acquired)), P.probeMs);
      job.probe = probe;
      later(P.startMs, () => {
        const worker = `cat >/dev/null; sleep ${P.workMs / 1000}; touch ${job.done}`;
        const args = [wqConsume, '-q', queue, '-c', '1', '--until-empty', '--idle', String(P.idleSeconds), '--acquired-file', job.acquired, '--log-level', 'warn', '--', 'sh', '-c', worker];
        const child = spawn(process.execPath, args, { env: { ...process.env, BROKER_URL: url }, stdio: ['ignore', 'ignore', 'inherit'] });
        job.child = child;
        child.on('exit', (code) => {
          job.finished = true;
          clearInterval(job.probe);
          job.exitCode = code;
          job.phase = code === 0 ? 'Succeeded' : 'Failed';
        });
      });
    });
  };
  const isPending = (job) => (mode === 'phase' ? job.phase === 'Pending' : mode === 'instant' ? !existsSync(job.acquired) : !job.ready);

  // Arrival: all at once, or one message every trickleMs.
  let published = 0;
  if (arrival === 'burst') {
    await fill(admin, queue, P.messages);
    published = P.messages;
  } else {
    const tick = async () => {
      await fill(admin, queue, 1, () => `m${published}\n`);
      published++;
      if (published < P.messages) later(P.trickleMs, tick);
    };
    await tick();
  }

  const began = performance.now();
  let polls = 0;
  let maxCreatedInPoll = 0;
  for (;;) {
    const queueLength = (await admin.ch.checkQueue(queue)).messageCount;
    const active = jobs.filter((j) => !j.finished);
    const running = active.length;
    const pending = active.filter(isPending).length;
    const create = queueLength > 0 ? accurate(queueLength, running, pending, P.maxReplicas) : 0;
    for (let i = 0; i < create; i++) createJob();
    maxCreatedInPoll = Math.max(maxCreatedInPoll, create);
    polls++;
    const processed = jobs.filter((j) => existsSync(j.done)).length;
    if (published >= P.messages && processed >= P.messages && jobs.every((j) => j.finished)) break;
    if (performance.now() - began > 180_000) throw new Error(`${mode}/${arrival}: not done after 180 s`);
    await new Promise((r) => setTimeout(r, P.pollMs));
  }
  const seconds = (performance.now() - began) / 1000;
  for (const t of timers) clearTimeout(t);
  for (const j of jobs) clearInterval(j.probe);
  const state = await admin.ch.checkQueue(queue);
  const withMessage = jobs.filter((j) => existsSync(j.done)).length;
  rmSync(dir, { recursive: true, force: true });
  return {
    mode,
    arrival,
    messages: P.messages,
    jobs: jobs.length,
    withMessage,
    idle: jobs.length - withMessage,
    failed: jobs.filter((j) => j.exitCode !== 0).length,
    maxCreatedInPoll,
    polls,
    seconds,
    leftInQueue: state.messageCount,
  };
}

const admin = await openAdmin(url);
const results = [];
try {
  // Rounds alternate the order of the three ways of counting, so none always runs first.
  for (let round = 0; round < P.rounds; round++) {
    for (const arrival of ['burst', 'trickle']) {
      const modes = ['phase', 'instant', 'probe'];
      for (const mode of round % 2 ? modes.reverse() : modes) {
        const r = await scenario(admin, mode, arrival);
        results.push(r);
        console.error(JSON.stringify({ round, ...r }));
      }
    }
  }
} finally {
  await cleanup(admin);
}

const label = {
  phase: 'pod phase only (no pendingPodConditions)',
  instant: 'pendingPodConditions [Ready] + --acquired-file, Ready read at poll time',
  probe: `pendingPodConditions [Ready] + --acquired-file, readiness probe every ${P.probeMs} ms`,
};
const lines = [
  '# KEDA ScaledJob `accurate` strategy: duplicate Jobs with and without the acquired-file gate',
  '',
  `Generated by \`node bench/keda.mjs\` on ${new Date().toISOString()}. A model of KEDA's formula (KEDA 2.x,`,
  'pkg/scaling/executor/scale_jobs.go: accurateScalingStrategy, getPendingJobCount), not KEDA itself: see the',
  'comment at the top of bench/keda.mjs. Real broker, real wq-consume processes as the pods.',
  '',
  `Parameters: ${P.messages} messages; poll every ${P.pollMs} ms; maxReplicaCount ${P.maxReplicas}, value 1; pod Pending ${P.pullMs} ms,`,
  `then Running ${P.startMs} ms before wq-consume starts; the worker takes ${P.workMs} ms; \`-c 1 --until-empty --idle ${P.idleSeconds}\`;`,
  `burst = all messages at once, trickle = one every ${P.trickleMs} ms.`,
  '',
  `Totals over ${P.rounds} rounds (each round's figure in brackets); seconds is the median round's time to the last Job's end.`,
  '',
  '| arrival | pending counted by | messages | Jobs created | Jobs that found nothing (exit 0 after --idle) | failed Jobs | most Jobs in one poll | left in queue | seconds |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...['burst', 'trickle'].flatMap((arrival) =>
    ['phase', 'instant', 'probe'].map((mode) => {
      const rs = results.filter((r) => r.arrival === arrival && r.mode === mode);
      const sum = (k) => rs.reduce((a, r) => a + r[k], 0);
      const each = (k) => rs.map((r) => r[k]).join(', ');
      const secs = rs.map((r) => r.seconds).sort((a, b) => a - b)[Math.floor(rs.length / 2)] ?? 0;
      return `| ${arrival} | ${label[mode]} | ${sum('messages')} | ${sum('jobs')} (${each('jobs')}) | ${sum('idle')} (${each('idle')}) | ${sum('failed')} | ${Math.max(...rs.map((r) => r.maxCreatedInPoll))} | ${sum('leftInQueue')} | ${secs.toFixed(1)} |`;
    }),
  ),
  '',
];
const out = f.out ?? join(ROOT, 'bench', 'KEDA-RESULTS.md');
writeFileSync(out, lines.join('\n'));
process.stdout.write(lines.join('\n'));
