import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findBroker } from '../../src/demo/find-broker.js';
import { maxConcurrent, runJob, type Container, type JobStatus } from '../../src/demo/job-controller.js';
import { jobFromManifest } from '../../src/demo/manifest.js';
import { brokerUrl, freshQueue, publish, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, DIST, FIXTURE, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const ITEMS = ['apple', 'banana', 'cherry', 'date', 'fig', 'grape', 'lemon', 'melon'];
const WORKER = join(ROOT, 'docker/example/worker.sh');

/** A pod: wq-consume around a worker, the way the Job's container runs it. */
function pod(env: Record<string, string>, worker = WORKER): Container {
  return { command: process.execPath, args: [DIST('wq-consume'), '--wait', '10', '--', worker], env: { WORK_SECONDS: '0.2', ...env } };
}

/** Every "Processing <item>" line the pods printed, sorted. */
const processed = (s: JobStatus) =>
  s.pods
    .flatMap((p) => p.attempts.flatMap((a) => a.stdout.split('\n')))
    .filter((l) => l.startsWith('Processing '))
    .map((l) => l.slice('Processing '.length))
    .sort();

describe('the Job stand-in runs the tutorial against the real broker', () => {
  it('the rendered Job, completions 8 at parallelism 2: each item processed exactly once, the queue empty', async () => {
    const queue = uniqueQueue('job');
    const pub = await cli('wq-publish', ['-q', queue, '--job', FIXTURE('job-template.yaml'), ...ITEMS]);
    expect(pub.exitCode).toBe(0);
    const { spec, env } = jobFromManifest(pub.stdout, { 'wq-broker': { url: brokerUrl() } });
    expect(spec).toMatchObject({ name: 'job-wq-1', completions: 8, parallelism: 2 });
    expect(env).toEqual({ BROKER_URL: brokerUrl(), QUEUE: queue });

    const status = await runJob(spec, pod(env));
    expect(status).toMatchObject({ condition: 'Complete', succeeded: 8, failed: 0 });
    expect(status.pods).toHaveLength(8);
    expect(status.pods.every((p) => p.phase === 'Succeeded' && p.restarts === 0)).toBe(true);
    expect(processed(status)).toEqual([...ITEMS].sort());
    expect(status.pods.map((p) => p.attempts[0]?.stdout.trim().split('\n').length)).toEqual(Array(8).fill(1));
    expect(maxConcurrent(status.pods)).toBe(2);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('restarts a failed container in its pod (restartPolicy OnFailure); the handed-back item is processed once', async () => {
    const queue = await freshQueue('restart');
    await publish(queue, ITEMS);
    const status = await runJob({ name: 'job-wq-1', completions: 8, parallelism: 2 }, pod({ BROKER_URL: brokerUrl(), QUEUE: queue, MARK: join(tempDir(), 'failed-once') }, FIXTURE('fail-once.sh')));
    expect(status).toMatchObject({ condition: 'Complete', succeeded: 8, failed: 1 });
    expect(status.pods).toHaveLength(8);
    const restarted = status.pods.filter((p) => p.restarts > 0);
    expect(restarted).toHaveLength(1);
    expect(restarted[0]?.attempts.map((a) => a.exitCode)).toEqual([1, 0]);
    expect(processed(status)).toEqual([...ITEMS].sort());
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('fails the Job past backoffLimit, and the items stay in the queue', async () => {
    const queue = await freshQueue('backoff');
    await publish(queue, ['a', 'b']);
    const failing = pod({ BROKER_URL: brokerUrl(), QUEUE: queue, EXIT: '3' }, FIXTURE('ignore-stdin.sh'));
    const status = await runJob({ name: 'job-wq-1', completions: 2, parallelism: 1, backoffLimit: 1 }, failing);
    expect(status).toMatchObject({ condition: 'Failed', succeeded: 0, failed: 2 });
    expect(status.pods).toHaveLength(1);
    expect(status.pods[0]).toMatchObject({ phase: 'Failed', restarts: 1 });
    expect(status.pods[0]?.attempts.map((a) => a.exitCode)).toEqual([3, 3]);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });
});

describe('npm run demo', () => {
  it('runs the tutorial end to end: 8 Succeeded, 0 Failed, each item\'s result gathered once, the demo queues deleted', async () => {
    const run = await cli('wq-demo', []);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('Pods Statuses:  0 Active / 8 Succeeded / 0 Failed');
    expect(run.stdout).toMatch(/Condition: +Complete/);
    // The pods' results, gathered at the end: one per item, after its message id (RUNID-00000N).
    const results = [...run.stdout.matchAll(/^ {2}[0-9a-f]{12}-(\d{6}) {2}Processing (\w+)$/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(results.sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(ITEMS.map((item, i) => [i + 1, item]));
    expect(run.stdout).toContain('(8 results, one per item, each after its message id; queue deleted)');
    expect(await queueExists(`${/^queue +(\S+)$/m.exec(run.stdout)?.[1]}.results`)).toBe(false);
    const queue = /^queue +(\S+)$/m.exec(run.stdout)?.[1];
    expect(queue).toMatch(/^job1-demo-/);
    expect(run.stdout).toContain(`${queue}: 0 ready messages left (queue deleted)`);
    expect(await queueExists(queue as string)).toBe(false);
    expect(run.stdout).not.toContain(brokerUrl());
    expect(run.stdout).not.toMatch(/amqps?:\/\/[^\s@/]*:[^\s@/*]+@/); // URLs are shown redacted
  }, 120_000);
});

describe('how the demo finds a broker', () => {
  it('BROKER_URL first, shown without its password', async () => {
    const b = await findBroker({ BROKER_URL: 'amqp://app:s3cret@rabbit:5672' });
    expect(b.url).toBe('amqp://app:s3cret@rabbit:5672');
    expect(b.how).toBe('amqp://app:***@rabbit:5672 (from BROKER_URL)');
  });

  it('nothing on the port: a broker from testcontainers where Docker runs, else one line that says how to get one', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r)); // a port nothing listens on now
    const found = await findBroker({}, { host: '127.0.0.1', port }).then(
      async (b) => {
        await b.stop(); // where Docker runs, testcontainers started one
        return b.url;
      },
      (err: Error) => err.message,
    );
    expect(found).toMatch(/^amqp:\/\/|^no RabbitMQ broker: BROKER_URL is not set, nothing answers on 127\.0\.0\.1:\d+, and testcontainers could not start one \(.+\)\. Start one with 'rabbitmq-server -detached'/);
    expect(found).not.toContain('\n');
  }, 120_000);
});
