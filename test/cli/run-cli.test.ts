import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bundleScript } from '../helpers/bundle.js';

// The single exit path both CLIs share (src/cli/run-cli.ts), in a process of its own.
describe('runCli', () => {
  it('a run that stops making progress (a promise that never settles, nothing left to wait for) exits 70 with one line, never 0', () => {
    // amqplib left a channel's close() pending for ever once its socket was cut: Node then exited 0 mid-run.
    const script = bundleScript(`
      import { runCli } from '@src/cli/run-cli.js';
      runCli({
        name: 'wq-test',
        usage: () => '',
        parse: () => ({ kind: 'run', config: { logLevel: 'info', logFormat: 'json' } }),
        run: () => new Promise(() => {}),
      }, []);`);
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(70);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, exitCode: 70, msg: expect.stringMatching(/^internal error: the run stopped making progress/) });
  });
});
