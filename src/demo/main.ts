import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { containerPod, prepareEngine } from './containers.js';
import { findBroker } from './find-broker.js';
import { runJob, type Container, type JobEvent, type JobStatus } from './job-controller.js';
import { jobFromManifest } from './manifest.js';

// npm run demo: the Kubernetes "coarse parallel processing using a work queue" tutorial on one machine.
// wq-publish fills a fresh queue and renders the Job; a local stand-in for the Job controller runs it,
// each pod a wq-consume process around the tutorial's unmodified example worker, or, with --containers,
// a container of the Job's image (wq-example: tini + wq-consume + the same worker) run by docker or podman.
// Each pod publishes its worker's stdout to a result queue; the demo gathers the results at the end.

const ROOT = fileURLToPath(new URL('../', import.meta.url)); // dist/wq-demo.mjs -> the package root
const ITEMS = ['apple', 'banana', 'cherry', 'date', 'fig', 'grape', 'lemon', 'melon'];
const WORKER = 'docker/example/worker.sh';
const TUTORIAL_JOB = `# The tutorial's Job, with wq-consume as the container's entrypoint.
apiVersion: batch/v1
kind: Job
metadata:
  name: job-wq-1
spec:
  completions: 8
  parallelism: 2
  template:
    metadata:
      name: job-wq-1
    spec:
      containers:
        - name: c
          image: wq-example
          env:
            - name: BROKER_URL
              valueFrom:
                secretKeyRef:
                  name: wq-broker
                  key: url
            - name: QUEUE
              value: job1
      restartPolicy: OnFailure
`;

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--containers');
  if (unknown.length > 0) {
    process.stderr.write(`wq demo: unknown argument ${unknown[0]}; usage: npm run demo [-- --containers]\n`);
    return 64;
  }
  const containers = argv.includes('--containers');
  // Build the images first (npm run image; seconds when they exist), before a broker is started.
  const engine = containers ? prepareEngine(ROOT) : undefined;
  say('wq demo: the Kubernetes "coarse parallel processing using a work queue" tutorial, on this machine\n');
  const broker = await findBroker();
  const queue = `job1-demo-${randomBytes(3).toString('hex')}`;
  const results = `${queue}.results`;
  const dir = mkdtempSync(join(tmpdir(), 'wq-demo-'));
  say(`broker  ${broker.how}`);
  say(`queue   ${queue}\n`);
  try {
    const template = join(dir, 'job.yaml');
    writeFileSync(template, TUTORIAL_JOB);
    say(`$ wq-publish -q ${queue} --job job.yaml ${ITEMS.join(' ')}`);
    const pub = spawnSync(process.execPath, [join(ROOT, 'dist/wq-publish.mjs'), '-q', queue, '--job', template, ...ITEMS], {
      env: { ...process.env, BROKER_URL: broker.url },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const msg of logMessages(pub.stderr)) say(`  ${msg}`);
    if (pub.status !== 0) {
      say(`wq-publish failed (exit ${pub.status}): the demo stops here.`);
      return 1;
    }

    const { spec, env, image } = jobFromManifest(pub.stdout, { 'wq-broker': { url: broker.url } });
    const podEnv = { ...env, WORK_SECONDS: '0.5', WQ_LOG_LEVEL: 'warn' };
    const wqArgs = ['--wait', '10', '--result-queue', results];
    let pod: Container;
    say(`\n$ kubectl apply -f -    # here: a local stand-in for the Job controller (restartPolicy OnFailure);`);
    if (engine) {
      // The image's CMD is the worker (/app/worker.sh); args replace it, as a pod's args do.
      const args = [...wqArgs, '--', '/app/worker.sh'];
      const tagged = /:[\w.-]+$/.test(image) ? image : `${image}:latest`;
      pod = containerPod(engine, tagged, args, podEnv);
      say(`                        # each pod runs: ${engine.cmd} run --rm ${tagged} ${args.join(' ')}`);
    } else {
      // As the image starts it: from the startup snapshot when the build made one (docs/consume.md, "The startup snapshot").
      const blob = join(ROOT, 'dist/wq-consume.blob');
      const wq = existsSync(blob) ? ['--snapshot-blob', blob, '--'] : [join(ROOT, 'dist/wq-consume.mjs')];
      pod = { command: process.execPath, args: [...wq, ...wqArgs, '--', join(ROOT, WORKER)], env: podEnv };
      say(`                        # each pod runs: wq-consume ${wqArgs.join(' ')} -- ${WORKER}`);
    }
    const status = await runJob(spec, pod, printEvent);
    const ready = await readyMessages(broker.url, queue);
    printSummary(status, queue, ready);
    const gathered = gatherResults(broker.url, results);
    return status.condition === 'Complete' && ready === 0 && gathered === ITEMS.length ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await deleteQueue(broker.url, queue).catch(() => undefined);
    await deleteQueue(broker.url, results).catch(() => undefined);
    await broker.stop();
  }
}

function printEvent(e: JobEvent): void {
  if (e.type !== 'exited') return;
  const a = e.attempt;
  const how = a.exitCode === 0 ? 'Succeeded' : `exited ${a.exitCode ?? a.signal}${e.pod.phase === 'Running' ? ': restarting (OnFailure)' : ''}`;
  say(`  ${e.pod.name}  ${how}  (${((a.endedAt - a.startedAt) / 1000).toFixed(2)} s)`);
  if (a.exitCode !== 0) for (const msg of logMessages(a.stderr)) say(`      ${msg}`);
}

function printSummary(s: JobStatus, queue: string, ready: number): void {
  say('');
  say(`Name:           ${s.name}`);
  say(`Completions:    ${s.completions}`);
  say(`Parallelism:    ${s.parallelism}`);
  say(`Pods Statuses:  ${s.pods.filter((p) => p.phase === 'Running').length} Active / ${s.succeeded} Succeeded / ${s.failed} Failed`);
  say(`Condition:      ${s.condition} after ${(s.durationMs / 1000).toFixed(1)} s`);
  say(`Queue:          ${queue}: ${ready} ready messages left (queue deleted)`);
}

// The documented way to gather a result queue into one file (README "Results as messages"), run for real.
function gatherResults(url: string, results: string): number {
  const line = 'printf "%s\\t%s\\n" "$WQ_CORRELATION_ID" "$(cat)"';
  say(`\n$ wq-consume -q ${results} --until-empty -- sh -c '${line}' >> results.tsv    # the Job's results`);
  const run = spawnSync(process.execPath, [join(ROOT, 'dist/wq-consume.mjs'), '-q', results, '--until-empty', '--idle', '0.5', '--', 'sh', '-c', line], {
    env: { ...process.env, BROKER_URL: url, WQ_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const rows = run.stdout.split('\n').filter(Boolean);
  for (const row of rows) say(`  ${row.replace('\t', '  ')}`);
  for (const msg of logMessages(run.stderr)) say(`  ${msg}`);
  say(`  (${rows.length} results, one per item, each after its message id; queue deleted)`);
  return run.status === 0 ? rows.length : -1;
}

async function readyMessages(url: string, queue: string): Promise<number> {
  return withChannel(url, async (ch) => (await ch.checkQueue(queue)).messageCount);
}

async function deleteQueue(url: string, queue: string): Promise<void> {
  await withChannel(url, (ch) => ch.deleteQueue(queue));
}

async function withChannel<T>(url: string, use: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(url, { noDelay: true });
  try {
    const ch = await conn.createChannel();
    const result = await use(ch);
    await ch.close();
    return result;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The msg of each pino line (wq's logs), other lines as they are. */
function logMessages(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: string };
        return parsed.msg ?? line;
      } catch {
        return line;
      }
    });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`wq demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
