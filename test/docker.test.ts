import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { brokerUrl, freshQueue, publish, queueState } from './helpers/broker.js';
import { ROOT, toRun } from './helpers/cli.js';
import { alive, tempDir } from './helpers/files.js';
import { auditImage, copies, imageConfig, parseDockerfile, type Copy, type ImageConfig, type Stage } from './helpers/dockerfile.js';
import { NODE_VERSIONS, nodeBinary } from '../scripts/node-versions.mjs';

// There is no Docker engine on the project's machines. These tests read docker/Dockerfile and
// docker/example/Dockerfile, check them, lay out the image's files as their COPY lines say, and run the
// exact ENTRYPOINT + CMD against the broker: as PID 1 of its own PID namespace and as the image's USER
// when the tests run as root (as CI does), so signals and privileges behave as in a container.

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const WQ_DF = parseDockerfile(read('docker/Dockerfile'));
const EXAMPLE_DF = parseDockerfile(read('docker/example/Dockerfile'));
const PYTHON_DF = parseDockerfile(read('docker/python-example/Dockerfile'));
const WQ = imageConfig(WQ_DF);
const EXAMPLE = imageConfig(EXAMPLE_DF, WQ);
const BASE_NODE = '/usr/local/bin/node';
/** The base image's Node (node:24-bookworm-slim), emulated by the same release from the npm registry (fetched by npm test). */
const NODE24 = nodeBinary(NODE_VERSIONS[24]);
const SEA = '/usr/local/bin/wq-consume';
const runtime = WQ_DF.stages[WQ_DF.stages.length - 1] as Stage;
const build = WQ_DF.stages[0] as Stage;
const SNAPSHOT_RUN = `${BASE_NODE} --no-warnings --snapshot-blob /opt/wq/wq-consume.blob --build-snapshot /opt/wq/wq-consume.snapshot.cjs`;

describe('docker/Dockerfile', () => {
  it('is multi-stage: a Node 24 slim runtime gets only the bundles, the spawn addon, the single executable and a static init from the build, and makes its own snapshot', () => {
    expect(WQ_DF.stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime.image).toMatch(/^node:24[\w.-]*-slim$/);
    // Nothing is installed in the runtime stage; it copies five files from the build stage, built on the
    // same Debian release (the addon links against its glibc), and its own node makes the startup snapshot
    // (a blob runs only on the node binary that made it).
    expect(build.image).toBe(runtime.image.replace(/-slim$/, ''));
    expect(runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.raw)).toEqual([SNAPSHOT_RUN]);
    expect(copies(runtime)).toEqual([
      { from: build.name, sources: ['/usr/bin/tini-static'], dest: '/opt/wq/tini' },
      { from: build.name, sources: ['/src/dist/wq-consume.mjs', '/src/dist/wq-consume.snapshot.cjs', '/src/dist/wq-spawn.node', '/src/dist/wq-publish.mjs'], dest: '/opt/wq/' },
      { from: build.name, sources: ['/src/dist/wq-consume'], dest: SEA },
    ]);
    expect(build.instructions.some((i) => i.keyword === 'RUN' && /apt-get install .*\btini\b/.test(i.raw))).toBe(true);
    expect(build.instructions.some((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.raw))).toBe(true);
  });

  it('runs wq-consume under tini in exec form, as a numeric non-root USER, with no secret inside', () => {
    expect(auditImage(WQ, WQ_DF.all)).toEqual([]);
    expect(WQ.entrypoint?.exec).toEqual(['/opt/wq/tini', '-g', '--', BASE_NODE, '--snapshot-blob', '/opt/wq/wq-consume.blob', '--']);
    expect(WQ.user).toBe('1000:1000');
    // The example adds only the worker: it inherits the ENTRYPOINT and USER, and passes the same checks.
    expect(EXAMPLE_DF.stages[0]?.image).toBe('wq:latest');
    expect(auditImage(EXAMPLE, EXAMPLE_DF.all)).toEqual([]);
    expect(EXAMPLE.entrypoint).toBe(WQ.entrypoint);
    expect(EXAMPLE.cmd?.exec).toEqual(['/app/worker.sh']);
  });

  it("the checks catch the Kubernetes tutorial's image and baked-in secrets", () => {
    const tutorial = parseDockerfile(
      [
        'FROM ubuntu:18.04',
        'RUN apt-get update && apt-get install -y curl ca-certificates amqp-tools python dnsutils',
        'COPY ./worker.py /worker.py',
        'CMD  /usr/bin/amqp-consume --url=$BROKER_URL -q $QUEUE -c 1 /worker.py',
      ].join('\n'),
    );
    expect(auditImage(imageConfig(tutorial), tutorial.all)).toEqual([
      'no ENTRYPOINT: the worker would start without wq-consume',
      'line 4: CMD in shell form: it runs under /bin/sh -c',
      'no USER: the container runs as root',
    ]);
    const leaky = parseDockerfile(
      [
        'ARG NPM_TOKEN',
        'FROM node:20-slim',
        'ENV BROKER_URL=amqp://wq:hunter2@rabbitmq:5672 QUEUE=job1',
        'ENV RABBITMQ_PASSWORD hunter2',
        'COPY .env /app/.env',
        'USER node',
        'ENTRYPOINT node /opt/wq/wq-consume.mjs',
      ].join('\n'),
    );
    expect(auditImage(imageConfig(leaky), leaky.all)).toEqual([
      'line 7: ENTRYPOINT in shell form: /bin/sh becomes PID 1 and SIGTERM never reaches the program',
      "USER node is not numeric: Kubernetes' runAsNonRoot cannot verify a user name",
      'line 1: ARG NPM_TOKEN bakes a secret into the image; pass it at run time',
      'line 3: a URL with a password in ENV',
      'line 4: ENV RABBITMQ_PASSWORD bakes a secret into the image; pass it at run time',
      'line 5: COPY of a secret file',
    ]);
    const noInit = parseDockerfile('FROM node:20-slim\nUSER 0\nENTRYPOINT ["node", "/opt/wq/wq-consume.mjs"]');
    expect(auditImage(imageConfig(noInit), noInit.all)).toEqual([
      'line 3: the ENTRYPOINT does not start an init (tini, tini-static, dumb-init, catatonit) to forward signals and reap zombies',
      'USER 0: the container runs as root',
    ]);
  });

  it('.dockerignore lets into the build context only what the Dockerfiles copy from it', () => {
    const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(patterns[0]).toBe('**');
    const allowed = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const fromContext = [WQ_DF, EXAMPLE_DF, PYTHON_DF]
      .flatMap((df) => df.stages.flatMap((s) => copies(s)))
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.map((s) => s.replace(/^\.\//, '').replace(/\/$/, '')));
    expect([...new Set(fromContext)].sort()).toEqual([...allowed].sort());
    for (const source of fromContext) expect(existsSync(join(ROOT, source)), source).toBe(true);
  });

  // docs/image.md describes the image of the Node 24 work (the single executable at /usr/local/bin/wq-consume,
  // which docker/python-example/Dockerfile copies): its three Dockerfiles are the base image, the
  // single-executable copy-in and the copy-in with Node.
  it("docs/image.md's Dockerfiles (base image and the two copy-ins) pass the same checks and copy what the wq image holds", () => {
    const blocks = [...read('docs/image.md').matchAll(/```dockerfile\n([\s\S]*?)```/g)].map((m) => m[1] as string).filter((b) => /^FROM /m.test(b));
    expect(blocks).toHaveLength(3);
    const inWq = new Set([BASE_NODE, ...WQ.copies.map((c) => c.dest.replace(/\/$/, '')), '/opt/wq']);
    for (const block of blocks) {
      const df = parseDockerfile(block);
      const config = imageConfig(df, df.stages[0]?.image === 'wq:latest' ? WQ : undefined);
      expect(auditImage(config, df.all), block).toEqual([]);
      const fromWq = copies(df.stages[df.stages.length - 1] as Stage).filter((c) => c.from === 'wq:latest');
      for (const c of fromWq) {
        for (const s of c.sources) expect(inWq, `${s} is in the wq image`).toContain(s);
      }
      // The ENTRYPOINT starts what the block has: the single executable under the image's own tini, or
      // the wq image's Node and snapshot under the wq image's tini.
      const single = fromWq.some((c) => c.sources.includes(SEA));
      expect(config.entrypoint?.exec).toEqual(single ? ['/usr/bin/tini', '-g', '--', SEA] : WQ.entrypoint?.exec);
    }
    // The first copy-in takes one file, the single executable; it is docker/python-example/Dockerfile
    // (which test/image builds and runs), but for the worker's path in the build context.
    const first = parseDockerfile(blocks[1] as string);
    expect(copies(first.stages[0] as Stage).filter((c) => c.from === 'wq:latest')).toEqual([{ from: 'wq:latest', sources: [SEA], dest: SEA }]);
    const line = (i: { keyword: string; raw: string }) => `${i.keyword} ${i.raw.replace(/^docker\/python-example\//, '')}`;
    expect(first.all.map(line)).toEqual(PYTHON_DF.all.map(line));
  });
});

// The build stage, emulated: its WORKDIR gets exactly what its COPY lines take from the build context
// (so a file the build needs but the Dockerfile or .dockerignore leaves out fails here), `npm ci` is
// this checkout's node_modules (installed from the same package-lock.json), `apt-get install tini` is
// this Debian machine's package, and `npm run build` runs for real, on Node 24 as in the image.
let builtStage: string | undefined;
async function runBuildStage(): Promise<string> {
  if (builtStage) return builtStage;
  const dir = tempDir();
  for (const ins of build.instructions) {
    if (ins.keyword === 'COPY') {
      const [c] = copies({ image: build.image, instructions: [ins] });
      for (const s of (c as Copy).sources) {
        const dest = join(dir, (c as Copy).dest.endsWith('/') ? join((c as Copy).dest, basename(s)) : (c as Copy).dest);
        cpSync(join(ROOT, s), dest, { recursive: true });
      }
    } else if (ins.keyword === 'RUN') {
      if (/apt-get install .*\btini\b/.test(ins.raw)) {
        expect(existsSync('/usr/bin/tini-static'), 'Debian\'s tini (apt-get install tini, as .ci/run does)').toBe(true);
      } else if (/^npm ci\b/.test(ins.raw)) {
        expect(existsSync(join(dir, 'package-lock.json'))).toBe(true);
        symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      } else if (ins.raw === 'npm run build') {
        const r = await execa('npm', ['run', 'build'], { cwd: dir, reject: false, all: true, env: { PATH: `${dirname(NODE24)}:${process.env.PATH}` } });
        expect(r.exitCode, `npm run build in the build stage:\n${r.all}`).toBe(0);
      } else {
        throw new Error(`line ${ins.line}: RUN ${ins.raw}: this test does not know how to emulate it`);
      }
    } else if (!['WORKDIR', 'ENV', 'ARG'].includes(ins.keyword)) {
      throw new Error(`line ${ins.line}: ${ins.keyword} in the build stage: this test does not know how to emulate it`);
    }
  }
  builtStage = dir;
  return dir;
}

// The image's filesystem, emulated: each COPY's source from the build context (the repository) or the
// build stage (above; paths outside its WORKDIR are Debian packages, at the same place on this Debian
// machine), and Node from the base image (Node 24, the binary scripts/node-versions.mjs fetched).
async function layOut(image: ImageConfig): Promise<string> {
  const rootfs = tempDir();
  chmodSync(rootfs, 0o755);
  const stage = await runBuildStage();
  const workdir = build.instructions.find((i) => i.keyword === 'WORKDIR')?.raw as string;
  const hostPath = (c: Copy, source: string) => {
    if (c.from === undefined) return join(ROOT, source);
    if (c.from !== build.name) throw new Error(`COPY --from=${c.from}: not a stage this test knows`);
    return source.startsWith(`${workdir}/`) ? join(stage, source.slice(workdir.length + 1)) : source;
  };
  const put = (from: string, to: string) => {
    expect(existsSync(from), `${from} for the image's ${to}`).toBe(true);
    mkdirSync(dirname(join(rootfs, to)), { recursive: true, mode: 0o755 });
    copyFileSync(from, join(rootfs, to));
    chmodSync(join(rootfs, to), statSync(from).mode & 0o777);
  };
  for (const c of image.copies) {
    for (const s of c.sources) put(hostPath(c, s), c.dest.endsWith('/') ? c.dest + basename(s) : c.dest);
  }
  expect(existsSync(NODE24), `${NODE24}: run node scripts/node-versions.mjs`).toBe(true);
  mkdirSync(join(rootfs, dirname(BASE_NODE)), { recursive: true, mode: 0o755 });
  symlinkSync(NODE24, join(rootfs, BASE_NODE));
  // The runtime stage's one RUN, the snapshot, made by the image's node (Node 24) in the layout.
  const made = await execa(NODE24, SNAPSHOT_RUN.split(' ').slice(1).map((a) => (a.startsWith('/opt/') ? join(rootfs, a) : a)), { reject: false, all: true });
  expect(made.exitCode, `RUN ${SNAPSHOT_RUN}:\n${made.all}`).toBe(0);
  return rootfs;
}

const asRoot = process.getuid?.() === 0;

/** Start the image's ENTRYPOINT + CMD (paths inside the image mapped to the laid-out files). */
async function startImage(image: ImageConfig, env: Record<string, string>) {
  const rootfs = await layOut(image);
  const inImage = [...(image.entrypoint?.exec ?? []), ...(image.cmd?.exec ?? [])];
  const argv = inImage.map((a) => (a.startsWith('/') && lstatSync(join(rootfs, a), { throwIfNoEntry: false }) ? join(rootfs, a) : a));
  const [uid, gid] = (image.user as string).split(':');
  // As root: tini is PID 1 of a new PID namespace and everything runs as the image's USER.
  const wrapper = asRoot ? ['unshare', '--pid', '--fork', '--kill-child', '--', 'setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', '--'] : [];
  const [cmd, ...args] = [...wrapper, ...argv];
  const child = execa(cmd as string, args, {
    reject: false,
    extendEnv: false,
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/node', ...env },
    stdin: 'ignore',
    encoding: 'utf8',
    stripFinalNewline: false,
  });
  return { child, argv: inImage };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
const descendants = (pid: number): number[] => children(pid).flatMap((c) => [c, ...descendants(c)]);
const status = (pid: number, field: string) => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';

describe('the example image, run as its ENTRYPOINT + CMD say', () => {
  it('takes one message, prints "Processing <item>" from the unmodified worker, and acks it', async () => {
    const queue = await freshQueue('image');
    await publish(queue, ['apple', 'banana']);
    const { child, argv } = await startImage(EXAMPLE, { BROKER_URL: brokerUrl(), QUEUE: queue });
    expect(argv).toEqual(['/opt/wq/tini', '-g', '--', BASE_NODE, '--snapshot-blob', '/opt/wq/wq-consume.blob', '--', '/app/worker.sh']);
    const run = toRun(await child);
    expect(run.stdout).toBe('Processing apple\n');
    expect(run.exitCode).toBe(0);
    expect(run.logs.find((l) => l.msg.includes('acked'))).toMatchObject({ queue, exitCode: 0 });
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('SIGTERM to PID 1 reaches wq-consume: the worker is stopped, its message handed back, exit 143', async () => {
    const queue = await freshQueue('sigterm');
    await publish(queue, ['cherry']);
    const { child } = await startImage(EXAMPLE, { BROKER_URL: brokerUrl(), QUEUE: queue, WORK_SECONDS: '300' });
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Processing cherry')) resolve();
      });
      void child.then((r) => reject(new Error(`the image exited ${r.exitCode} before the worker started: ${String(r.stderr)}`)));
    });
    const pid = child.pid as number;
    const init = asRoot ? (children(pid)[0] as number) : pid;
    const tree = [init, ...descendants(init)];
    expect(tree.length, 'tini, wq-consume, the worker').toBeGreaterThanOrEqual(3);
    if (asRoot) {
      // tini is PID 1 in its namespace, and it and the worker run as the image's USER, not root.
      expect(status(init, 'NSpid').split(/\s+/).pop()).toBe('1');
      for (const p of tree) expect(status(p, 'Uid').split(/\s+/)[0], `pid ${p}`).toBe(WQ.user?.split(':')[0]);
    }
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 1, consumers: 0 });
    process.kill(init, 'SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode).toBe(143);
    expect(run.logs.find((l) => l.msg.startsWith('received SIGTERM')), run.stderr).toMatchObject({ queue, signal: 'SIGTERM', running: 1 });
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    for (const p of tree) expect(alive(p), `pid ${p} is gone`).toBe(false);
  });

  it('the wq image alone (CMD --help) prints the usage and exits 0', async () => {
    const { child, argv } = await startImage(WQ, {});
    expect(argv.slice(-1)).toEqual(['--help']);
    const run = toRun(await child);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Usage: wq-consume \[options\] -- command/);
  });
});
