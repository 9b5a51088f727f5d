import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { glibcRequirement } from '../../scripts/build-native.mjs';
import { loadNativeSpawn } from '../../src/process/native-spawn.js';
import { bundleScript } from '../helpers/bundle.js';
import { alive, tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// The edges where a command's end meets the process: an exception thrown in an exit callback, a process
// that exits while commands run, a start that fails for want of a resource, and what the addon needs of
// the C library. Each runs in a process of its own, with both ways of starting a command.
const ADDON = join(import.meta.dirname, '../../dist/wq-spawn.node');
const native = loadNativeSpawn(ADDON);
const backends = typeof native === 'string' ? ['child_process'] : ['native', 'child_process'];

/** Node running `script` with ADDON and the backend as arguments; its result. */
const node = (script: string, backend: string, prefix: string[] = []) =>
  spawnSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), script, ADDON, backend], { encoding: 'utf8', timeout: 20_000 });

const RUN = `
import { Environment } from '@src/process/environment.js';
import { runCommand } from '@src/process/runner.js';
import { loadNativeSpawn } from '@src/process/native-spawn.js';
const [addonFile, backend] = process.argv.slice(2);
const native = backend === 'native' ? loadNativeSpawn(addonFile) : undefined;
if (typeof native === 'string') throw new Error(native);
export const run = (command, args, env = {}) =>
  runCommand({ command, file: command, args, body: Buffer.alloc(0), env: Environment.of({ PATH: process.env.PATH, ...env }), timeoutMs: 0, graceMs: 5000, native });
`;

describe.each(backends)('with %s', (backend) => {
  it('a process that exits while commands run kills their process groups first (a fatal error, an uncaught exception)', async () => {
    const pids = join(tempDir(), 'pids');
    const script = bundleScript(`${RUN}
      run('/bin/sh', ['-c', 'sleep 30 & echo $$ $! > "$OUT"; wait'], { OUT: ${JSON.stringify(pids)} });
      const { existsSync } = await import('node:fs');
      while (!existsSync(${JSON.stringify(pids)})) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('a bug');`);
    const r = node(script, backend);
    expect(r.stderr).toContain('a bug');
    expect(r.status).not.toBe(0);
    const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    await waitFor(() => !alive(shell!) && !alive(sleeper!), 'the command and its child to be gone', 3000);
  });

  it('a start that fails for want of file descriptors (EMFILE) is a transient failed start, never a throw', () => {
    const script = bundleScript(`${RUN}
      import { openSync } from 'node:fs';
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      const outcome = await run('/bin/true', []).done;
      console.log(JSON.stringify(outcome));
      process.exit(0);`);
    const r = node(script, backend, ['prlimit', '--nofile=64:64']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'start-failed', transient: true, error: { code: expect.stringMatching(/^(EMFILE|ENFILE)$/) } });
  });
});

describe.runIf(typeof native !== 'string')('the addon', () => {
  it('raises an exception thrown in an exit callback as an uncaught exception at once, and starts the next command cleanly', () => {
    const script = `
      const addon = require(process.argv[1]);
      process.on('uncaughtException', (err) => {
        console.log('uncaught: ' + err.message);
        addon.spawn('/bin/sh', ['sh', '-c', 'exit 5'], [], Buffer.alloc(0), (code) => console.log('next exit ' + code));
      });
      addon.spawn('/bin/true', ['true'], [], Buffer.alloc(0), () => { throw new Error('boom'); });`;
    const r = spawnSync(process.execPath, ['-e', script, ADDON], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stdout.trim().split('\n')).toEqual(['uncaught: boom', 'next exit 5']);
    expect(r.status).toBe(0);
  });

  it('has no threads of its own: a process that ran 20 commands side by side has as many threads as before', () => {
    const script = `
      const addon = require(process.argv[1]);
      const tasks = () => require('node:fs').readdirSync('/proc/self/task').length;
      const before = tasks();
      Promise.all(Array.from({ length: 20 }, () => new Promise((done) => addon.spawn('/bin/sleep', ['sleep', '0.1'], [], Buffer.alloc(0), done))))
        .then(() => console.log(tasks() - before));`;
    const r = spawnSync(process.execPath, ['-e', script, ADDON], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stdout.trim()).toBe('0');
  });

  it('needs nothing newer than glibc 2.28 (Debian 10, RHEL 8)', () => {
    const needs = glibcRequirement(ADDON);
    expect(needs, 'objdump -T on the addon').toBeDefined();
    const [major, minor] = needs!.split('.').map(Number);
    expect(major! * 100 + minor!).toBeLessThanOrEqual(228);
  });
});

it('the addon is built (a machine with a C compiler must not fall back silently)', () => {
  expect(existsSync(ADDON)).toBe(true);
  expect(typeof native === 'string' ? native : 'loads').toBe('loads');
});
