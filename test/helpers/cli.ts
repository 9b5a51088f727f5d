import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { brokerUrl } from './broker.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DIST = (name: string) => `${ROOT}dist/${name}.mjs`;
export const FIXTURE = (name: string) => `${ROOT}test/fixtures/${name}`;

export interface CliRun {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  /** wq's own pino lines from stderr. */
  logs: Array<Record<string, unknown> & { level: number; msg: string }>;
  /** stderr lines that are not wq's JSON logs (the command's own stderr). */
  otherStderr: string[];
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Keep the default broker URL out of the environment. */
  noBrokerEnv?: boolean;
  cwd?: string;
  /** Run this file instead of dist/NAME.mjs (e.g. a copy of it elsewhere). */
  script?: string;
}

/** The node that runs the CLIs under test: WQ_TEST_NODE (the nodeNN@ projects in vitest.config.ts run
 * Node 22 and 24 this way), else `node` on PATH, the one that runs vitest. */
export const NODE = process.env.WQ_TEST_NODE || 'node';

/** How the suite starts wq-consume: the bundle, or (WQ_TEST_LAUNCH=snapshot, the "snapshot" project in
 * vitest.config.ts) from its startup snapshot as the image does: dist/wq-consume.blob, or WQ_TEST_BLOB
 * (the blob that NODE made: a blob only starts on the node binary that made it). */
export const LAUNCH = process.env.WQ_TEST_LAUNCH === 'snapshot' ? 'snapshot' : 'bundle';
export const BLOB = process.env.WQ_TEST_BLOB || `${ROOT}dist/wq-consume.blob`;

/** node's arguments that run wq-consume from its startup snapshot. */
export const fromSnapshot = (args: string[], blob = BLOB) => ['--snapshot-blob', blob, '--', ...args];

/** Start a built CLI (dist/NAME.mjs) as a real process; BROKER_URL points at the test broker. */
export function start(name: 'wq-consume' | 'wq-publish' | 'wq-demo', args: string[], opts: CliOptions = {}): ResultPromise {
  const env: Record<string, string | undefined> = { BROKER_URL: opts.noBrokerEnv ? undefined : brokerUrl(), AMQP_URL: undefined, QUEUE: undefined, ...opts.env };
  const snapshot = name === 'wq-consume' && LAUNCH === 'snapshot' && opts.script === undefined;
  return execa(NODE, snapshot ? fromSnapshot(args) : [opts.script ?? DIST(name), ...args], {
    reject: false,
    env,
    extendEnv: true,
    cwd: opts.cwd ?? ROOT,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }),
    encoding: 'utf8',
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
}

export async function cli(name: 'wq-consume' | 'wq-publish' | 'wq-demo', args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return toRun(await start(name, args, opts));
}

export function toRun(r: { exitCode?: number; signal?: string; stdout: unknown; stderr: unknown }): CliRun {
  const stderr = String(r.stderr ?? '');
  const logs: CliRun['logs'] = [];
  const otherStderr: string[] = [];
  for (const line of stderr.split('\n')) {
    if (!line) continue;
    try {
      const parsed = JSON.parse(line);
      if (parsed && typeof parsed.level === 'number') {
        logs.push(parsed);
        continue;
      }
    } catch {
      // not ours
    }
    otherStderr.push(line);
  }
  return { exitCode: r.exitCode, signal: r.signal ?? undefined, stdout: String(r.stdout ?? ''), stderr, logs, otherStderr };
}

/** The error-level lines wq printed. */
export const errors = (run: CliRun) => run.logs.filter((l) => l.level >= 50);
