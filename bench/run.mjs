// npm run bench: wq against its floors and against amqp-tools, on the local broker, every comparison a
// ratio from the same run with the contenders alternated. Writes bench/RESULTS.md (full runs) and prints it.
//   node bench/run.mjs [--quick] [--only oneshot,drain,python,whole,publish,results] [--variants] [--before REV] [--out FILE]
//     --before REV: wq at that commit beside the current code in the drains (default 64b34e6, the core before
//     its simplification; --before none to leave it out);
//     --quick: fewer runs and messages; --variants: extra drain contenders (prefetch 1, the naive Node consumer);
//     --runs N (one-shot), --rounds N (drain, publish), --messages N (drain) override the counts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanup, openAdmin } from './lib/broker.mjs';
import { buildFloors } from './lib/build.mjs';
import { GNU_TIME } from './lib/measure.mjs';
import { buildBefore } from './lib/before.mjs';
import { drain } from './drain.mjs';
import { drainPython } from './drain-python.mjs';
import { drainResults } from './drain-results.mjs';
import { drainWhole } from './drain-whole.mjs';
import { oneShot } from './oneshot.mjs';
import { NODE_VERSIONS, nodeBinary } from '../scripts/node-versions.mjs';
import { publish } from './publish.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    variants: { type: 'boolean' },
    out: { type: 'string' },
    runs: { type: 'string' },
    rounds: { type: 'string' },
    messages: { type: 'string' },
    before: { type: 'string' },
  },
});
const quick = flags.quick === true;
const sections = (flags.only ?? 'oneshot,drain,python,whole,publish,results').split(',').map((s) => s.trim());
const num = (v, fallback) => (v === undefined ? fallback : Number(v));
const full = !quick && flags.only === undefined && !flags.runs && !flags.rounds && !flags.messages;
const out = flags.out ?? join(ROOT, 'bench', full ? 'RESULTS.md' : 'RESULTS.partial.md');
const url = process.env.BROKER_URL ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const wqConsume = join(ROOT, 'dist/wq-consume.mjs');
const wqPublish = join(ROOT, 'dist/wq-publish.mjs');
const wqBlob = join(ROOT, 'dist/wq-consume.blob');
// wq-consume as one executable file (Node 24 inside), and Node 24 with its own snapshot to compare it to:
// both made by npm run build when the Node 24 that npm test fetches is there (scripts/build-sea.mjs).
const wqSea = join(ROOT, 'dist/wq-consume');
const node24 = nodeBinary(NODE_VERSIONS[24]);
const wqBlob24 = join(ROOT, 'dist/node24/wq-consume.blob');
if (!existsSync(wqConsume)) throw new Error('dist/wq-consume.mjs is missing: run `npm run bench` (it builds first)');

const haveAmqpTools = commandExists('amqp-consume') && commandExists('amqp-publish');
const buildDir = mkdtempSync(join(tmpdir(), 'wq-bench-'));
const startedAt = new Date();
const load0 = loadavg();
const t0 = performance.now();
const admin = await openAdmin(url).catch((err) => {
  console.error(`cannot reach the broker at ${url.replace(/:[^:@/]*@/, ':***@')}: ${err.message}. Start RabbitMQ or set BROKER_URL.`);
  process.exit(69);
});

const ctx = {
  node: process.execPath,
  url,
  admin,
  buildDir,
  statsDir: buildDir,
  wqConsume,
  wqBlob: existsSync(wqBlob) ? wqBlob : undefined,
  sea: existsSync(wqSea) && existsSync(node24) && existsSync(wqBlob24) ? { file: wqSea, node24, blob24: wqBlob24 } : undefined,
  wqPublish,
  haveAmqpTools,
  variants: flags.variants === true,
  floors: await buildFloors(buildDir),
  before: beforeBuild(flags.before ?? '64b34e6'),
  progress: (text) => process.stderr.write(`  ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s ${text}\n`),
};

const parts = [];
try {
  if (sections.includes('oneshot')) parts.push(await oneShot({ ...ctx, runs: num(flags.runs, quick ? 10 : 30), warmup: quick ? 1 : 3 }));
  if (sections.includes('drain')) parts.push(await drain({ ...ctx, messages: num(flags.messages, quick ? 500 : 3000), rounds: num(flags.rounds, quick ? 1 : 4) }));
  if (sections.includes('python')) parts.push(await drainPython({ ...ctx, messages: quick ? 200 : 600, rounds: num(flags.rounds, quick ? 1 : 8) }));
  if (sections.includes('whole')) parts.push(await drainWhole({ ...ctx, messages: quick ? 500 : 3000, rounds: num(flags.rounds, quick ? 1 : 4) }));
  if (sections.includes('publish')) parts.push(await publish({ ...ctx, messages: quick ? 10_000 : 100_000, loopItems: quick ? 50 : 300, rounds: num(flags.rounds, quick ? 1 : 4) }));
  if (sections.includes('results')) parts.push(await drainResults({ ...ctx, messages: quick ? 300 : 1500, rounds: num(flags.rounds, quick ? 1 : 4) }));
} finally {
  await cleanup(admin);
  rmSync(buildDir, { recursive: true, force: true });
}

const seconds = ((performance.now() - t0) / 1000).toFixed(0);
const report = [
  '# wq benchmark results',
  '',
  `Generated by \`npm run bench\`${full ? '' : ` (partial: ${process.argv.slice(2).join(' ')})`} on ${startedAt.toISOString()} in ${seconds} s.`,
  '',
  '## Machine and versions',
  '',
  ...machine().map((line) => `- ${line}`),
  `- load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  '',
  '## Method',
  '',
  '- Every figure is a median with its min-max. Every comparison is the median of per-round ratios between contenders',
  '  run in the same round; the order of contenders rotates (and reverses) from round to round.',
  '- Wall time is measured by the harness from spawn to exit. CPU time (user+sys, 10 ms resolution) and peak RSS',
  '  come from GNU time (`/usr/bin/time -f "%U %S %M"`), which wraps every contender the same way.',
  '- All Node contenders run with the same node binary and environment; bench-only scripts are bundled with the',
  '  esbuild options of dist/ (scripts/esbuild-options.mjs).',
  `- NODE_EXTRA_CA_CERTS is ${process.env.NODE_EXTRA_CA_CERTS ? `set (${process.env.NODE_EXTRA_CA_CERTS}): it costs every Node start the parsing of that bundle (~37 ms measured on this machine), figures include it` : 'not set'}.`,
  '- The machine may be shared: other processes (test suites) can run at the same time. The load averages above say how busy it was.',
  '- bench/README.md says what each contender is and where the time goes.',
  '',
  ...parts.flatMap((p) => [`## ${p.title}`, '', p.body, '']),
].join('\n');

writeFileSync(out, report);
process.stdout.write(`${report}\nwritten to ${out}\n`);

function machine() {
  const cpu = cpus();
  const pkg = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  const git = tryRun('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['-C', ROOT, 'status', '--porcelain', '--', '.', ':!bench/RESULTS.md', ':!bench/RESULTS.partial.md']) ? ' (uncommitted changes)' : '';
  return [
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free), Linux ${release()}`,
    `Node ${process.version}, amqplib ${pkg('amqplib')}, execa ${pkg('execa')}, esbuild ${pkg('esbuild')}`,
    `broker: ${admin.serverVersion} at ${url.replace(/:[^:@/]*@/, ':***@')}`,
    `amqp-tools: ${haveAmqpTools ? tryRun('dpkg-query', ['-W', '-f', '${Version}', 'amqp-tools']) || 'installed' : 'not installed (apt-get install -y amqp-tools): its rows are skipped'}`,
    `GNU time: ${GNU_TIME ? GNU_TIME : 'not installed (apt-get install -y time): no CPU or RSS figures'}`,
    `wq: ${git || 'unknown commit'}${dirty}`,
  ];
}

function beforeBuild(rev) {
  if (rev === 'none') return undefined;
  try {
    return buildBefore(ROOT, rev);
  } catch (err) {
    console.error(`--before ${rev}: cannot build it (${err.message.split('\n')[0]}); measuring without it`);
    return undefined;
  }
}

function commandExists(name) {
  return process.env.PATH.split(':').some((dir) => existsSync(join(dir, name)));
}

function tryRun(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}
