import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { engine } from '../../scripts/engine.mjs';
import { containerPod } from '../../src/demo/containers.js';
import { maxConcurrent, runJob } from '../../src/demo/job-controller.js';
import { brokerUrl, freshQueue, publish, queueExists, queueState } from '../helpers/broker.js';
import { cli, ROOT, toRun, type CliRun } from '../helpers/cli.js';
import { alive } from '../helpers/files.js';
import { NODE_VERSIONS } from '../../scripts/node-versions.mjs';

// The images themselves, built by a real container engine (npm run image: podman here, docker where a
// daemon answers) and run against the broker with host networking. test/docker.test.ts checks the
// Dockerfiles' text and emulates the image; this file runs what the engine built.

const ITEMS = ['apple', 'banana', 'cherry', 'date', 'fig', 'grape', 'lemon', 'melon'];
let E: { cmd: string; env: Record<string, string> };

beforeAll(async () => {
  const r = await execa('bash', [join(ROOT, 'scripts/image.sh')], { reject: false, all: true, stdin: 'ignore' });
  if (r.exitCode !== 0) {
    throw new Error(`npm run image failed (exit ${r.exitCode}), so the images these tests run could not be built:\n${r.all}`);
  }
  E = engine();
}, 600_000);

const engineEnv = () => ({ ...process.env, ...E.env });
const name = (label: string) => `wq-test-${label}-${randomBytes(4).toString('hex')}`;

/** `<engine> run --rm --network host [flags] -e K=V... <image> [args]`, started. */
function run(image: string, env: Record<string, string>, opts: { flags?: string[]; args?: string[] } = {}): ResultPromise {
  const envFlags = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  return execa(E.cmd, ['run', '--rm', '--network', 'host', ...(opts.flags ?? []), ...envFlags, image, ...(opts.args ?? [])], {
    reject: false,
    env: engineEnv(),
    stdin: 'ignore',
    encoding: 'utf8',
    stripFinalNewline: false,
  });
}

const engineRun = (args: string[]) => execa(E.cmd, args, { reject: false, env: engineEnv(), encoding: 'utf8' });

/** Resolves when the container's stdout holds `text`; rejects if it exits first. */
function untilStdout(child: ResultPromise, text: string): Promise<void> {
  let out = '';
  return new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(text)) resolve();
    });
    void child.then((r) => reject(new Error(`the container exited ${r.exitCode} before printing "${text}":\n${String(r.stderr)}`)));
  });
}

/** The container's processes, read from the host's /proc (as root, for either engine): pid in the container, host pid, uid, argv. */
async function top(container: string): Promise<Array<{ pid: number; hpid: number; uid: number; args: string }>> {
  const r = await engineRun(['inspect', '--format', '{{.State.Pid}}', container]);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const init = Number(String(r.stdout).trim());
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const tree = (pid: number): number[] => [pid, ...children(pid).flatMap(tree)];
  return tree(init).map((hpid) => {
    const status = readFileSync(`/proc/${hpid}/status`, 'utf8');
    const field = (f: string) => (new RegExp(`^${f}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/);
    return {
      pid: Number(field('NSpid').pop()),
      hpid,
      uid: Number(field('Uid')[0]),
      args: readFileSync(`/proc/${hpid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0').join(' '),
    };
  });
}

/** One message through a container that exits after it: the run, its wq log lines parsed. */
async function oneMessage(image: string, item: string, env: Record<string, string> = {}, flags: string[] = []): Promise<{ run: CliRun; queue: string }> {
  const queue = await freshQueue('img');
  await publish(queue, [item]);
  const run_ = toRun(await run(image, { BROKER_URL: brokerUrl(), QUEUE: queue, WORK_SECONDS: '0.2', ...env }, { flags }));
  return { run: run_, queue };
}

describe('the images, built and run by the container engine', () => {
  it("wq-example: the tutorial's message, 'Processing <item>' from the unmodified worker, acked", async () => {
    const { run: r, queue } = await oneMessage('wq-example:latest', 'apple');
    expect(r.stdout).toBe('Processing apple\n');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.logs.find((l) => l.msg.includes('acked'))).toMatchObject({ queue, exitCode: 0 });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('stop during work: exit 143, the message handed back, no process of the container left', async () => {
    const queue = await freshQueue('stop');
    await publish(queue, ['cherry']);
    const ctr = name('stop');
    const child = run('wq-example:latest', { BROKER_URL: brokerUrl(), QUEUE: queue, WORK_SECONDS: '300' }, { flags: ['--name', ctr] });
    await untilStdout(child, 'Processing cherry');
    const procs = await top(ctr);
    expect(procs.length, 'tini, wq-consume, the worker (sh) and its sleep').toBeGreaterThanOrEqual(3);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 1, consumers: 0 });
    const t0 = performance.now();
    const stop = await engineRun(['stop', '-t', '10', ctr]);
    const stopMs = performance.now() - t0;
    expect(stop.exitCode, String(stop.stderr)).toBe(0);
    const r = toRun(await child);
    expect(r.exitCode).toBe(143);
    expect(stopMs, 'SIGTERM did it; the engine did not wait the 10 s to SIGKILL').toBeLessThan(5_000);
    expect(r.logs.find((l) => l.msg.startsWith('received SIGTERM')), r.stderr).toMatchObject({ queue, signal: 'SIGTERM', running: 1 });
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    for (const p of procs) expect(alive(p.hpid), `${p.args} (host pid ${p.hpid}) is gone`).toBe(false);
    expect(String((await engineRun(['ps', '-a', '-q', '--filter', `name=^${ctr}$`])).stdout).trim(), 'the container is removed').toBe('');
  });

  it('PID 1 is tini, and every process in the container runs as uid 1000', async () => {
    const queue = await freshQueue('pid1');
    await publish(queue, ['date']);
    const ctr = name('pid1');
    const child = run('wq-example:latest', { BROKER_URL: brokerUrl(), QUEUE: queue, WORK_SECONDS: '300' }, { flags: ['--name', ctr] });
    await untilStdout(child, 'Processing date');
    const procs = await top(ctr);
    // wq-consume started from the startup snapshot the image made (README, "Start-up").
    const wq = /^\/usr\/local\/bin\/node --snapshot-blob \/opt\/wq\/wq-consume\.blob -- \/app\/worker\.sh$/;
    expect(procs.find((p) => p.pid === 1)?.args).toMatch(/^\/opt\/wq\/tini -g -- \/usr\/local\/bin\/node --snapshot-blob \/opt\/wq\/wq-consume\.blob -- /);
    expect(procs.map((p) => p.args)).toEqual(expect.arrayContaining([expect.stringMatching(wq), expect.stringMatching(/^\/bin\/sh \/app\/worker\.sh/)]));
    for (const p of procs) expect(p.uid, p.args).toBe(1000);
    // Stopped: the message goes back.
    await engineRun(['stop', '-t', '10', ctr]);
    expect(toRun(await child).exitCode).toBe(143);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('works with --read-only --cap-drop=ALL --security-opt no-new-privileges', async () => {
    const { run: r, queue } = await oneMessage('wq-example:latest', 'fig', {}, ['--read-only', '--cap-drop=ALL', '--security-opt', 'no-new-privileges']);
    expect(r.stdout).toBe('Processing fig\n');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('the native spawn addon loads in the slim image (WQ_SPAWN=native would exit 78 without it)', async () => {
    const { run: r, queue } = await oneMessage('wq-example:latest', 'grape', { WQ_SPAWN: 'native' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('Processing grape\n');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    // And the check is real: wq-consume.mjs copied away from wq-spawn.node refuses before taking the message.
    const q2 = await freshQueue('noaddon');
    await publish(q2, ['lemon']);
    const script = 'cp /opt/wq/wq-consume.mjs /tmp/ && exec /usr/local/bin/node /tmp/wq-consume.mjs -- /app/worker.sh';
    const without = toRun(await run('wq-example:latest', { BROKER_URL: brokerUrl(), QUEUE: q2, WQ_SPAWN: 'native' }, { flags: ['--entrypoint', '/bin/sh'], args: ['-c', script] }));
    expect(without.exitCode, without.stderr).toBe(78);
    expect(without.stdout).toBe('');
    expect(await queueState(q2)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('wq is on Node 24 LTS, and its single executable is the same wq-consume', async () => {
    const node = await engineRun(['run', '--rm', '--entrypoint', '/usr/local/bin/node', 'wq:latest', '--version']);
    expect(String(node.stdout).trim()).toBe(`v${NODE_VERSIONS[24]}`);
    const [sea, snapshot] = await Promise.all([
      engineRun(['run', '--rm', '--entrypoint', '/usr/local/bin/wq-consume', 'wq:latest', '--version']),
      engineRun(['run', '--rm', 'wq:latest', '--version']),
    ]);
    expect(sea.exitCode, String(sea.stderr)).toBe(0);
    expect(String(sea.stdout)).toMatch(/^wq-consume \d/);
    expect(String(sea.stdout)).toBe(String(snapshot.stdout));
  });

  it("wq copied into an existing image as one file: the tutorial's unmodified worker.py in a Python image without Node", async () => {
    const base = readFileSync(join(ROOT, 'docker/python-example/Dockerfile'), 'utf8').match(/^FROM (\S+)/m)?.[1] as string;
    const noNode = await engineRun(['run', '--rm', '--entrypoint', '/bin/sh', base, '-c', 'command -v node; command -v python3']);
    expect(String(noNode.stdout).trim(), `${base} has python3 and no node`).toMatch(/^\/\S*python3$/);
    // The image built from it: no node, no /opt/wq; wq-consume is one file under the image's own tini.
    const inside = await engineRun(['run', '--rm', '--entrypoint', '/bin/sh', 'wq-python-example:latest', '-c', 'command -v node; ls -d /opt/wq; command -v tini; command -v wq-consume']);
    expect(String(inside.stdout).trim()).toBe('/usr/bin/tini\n/usr/local/bin/wq-consume');
    const { run: r, queue } = await oneMessage('wq-python-example:latest', 'melon');
    expect(r.stdout).toBe('Processing melon\n');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.logs.find((l) => l.msg.includes('acked'))).toMatchObject({ queue, exitCode: 0 });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('the single executable drains a queue in that image: -j 2 with its native spawn, each item once, the queue empty', async () => {
    const queue = await freshQueue('sea-drain');
    const items = Array.from({ length: 20 }, (_, i) => `item-${i}`);
    await publish(queue, items);
    const worker = ['python3', '-S', '-c', 'import sys; print("Processing " + sys.stdin.read())'];
    // WQ_SPAWN=native: the addon inside the file must load (from its private temp file), or exit 78 at once.
    const r = toRun(await run('wq-python-example:latest', { BROKER_URL: brokerUrl(), QUEUE: queue, WQ_SPAWN: 'native' }, { args: ['--until-empty', '--idle', '1', '-j', '2', '--', ...worker] }));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(items.map((i) => `Processing ${i}`).sort());
    expect(r.logs.filter((l) => l.msg.startsWith('command succeeded'))).toHaveLength(items.length);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('the demo with --containers: each pod a wq-example container', () => {
  it('the Job stand-in runs 8 completions at parallelism 2 as containers; each item once, the queue empty', async () => {
    const queue = await freshQueue('job');
    await publish(queue, ITEMS);
    const pod = containerPod(E, 'wq-example:latest', ['--wait', '10', '--', '/app/worker.sh'], { BROKER_URL: brokerUrl(), QUEUE: queue, WORK_SECONDS: '0.2' });
    const status = await runJob({ name: 'job-wq-1', completions: 8, parallelism: 2 }, pod);
    expect(status, JSON.stringify(status.pods.flatMap((p) => p.attempts.map((a) => a.stderr)))).toMatchObject({ condition: 'Complete', succeeded: 8, failed: 0 });
    const processed = status.pods.flatMap((p) => p.attempts.map((a) => a.stdout.trim())).sort();
    expect(processed).toEqual(ITEMS.map((i) => `Processing ${i}`).sort());
    expect(maxConcurrent(status.pods)).toBe(2);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('npm run demo -- --containers: the Job completes, its results gathered, 0 ready messages left, the demo queues deleted', async () => {
    const r = await cli('wq-demo', ['--containers']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const queue = /^queue +(\S+)$/m.exec(r.stdout)?.[1] as string;
    expect(r.stdout).toContain(`# each pod runs: ${E.cmd} run --rm wq-example:latest --wait 10 --result-queue ${queue}.results -- /app/worker.sh`);
    expect(r.stdout).toContain('Pods Statuses:  0 Active / 8 Succeeded / 0 Failed');
    expect(r.stdout).toMatch(/Condition: +Complete/);
    // The containers' results, gathered at the end: one per item, after its message id.
    const results = [...r.stdout.matchAll(/^ {2}[0-9a-f]{12}-\d{6} {2}Processing (\w+)$/gm)].map((m) => m[1]);
    expect(results.sort()).toEqual([...ITEMS].sort());
    expect(r.stdout).toContain(`${queue}: 0 ready messages left (queue deleted)`);
    expect(await queueExists(queue)).toBe(false);
    expect(await queueExists(`${queue}.results`)).toBe(false);
  }, 180_000);
});
