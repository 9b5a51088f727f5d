import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { brokerUrl, freshQueue, publish, queueState } from '../helpers/broker.js';
import { bundleScript } from '../helpers/bundle.js';
import { DIST, NODE, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

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

  it('under node --cpu-prof, SIGPROF is the profiler\'s: a drain runs to its end and the profile is written', async () => {
    // wq-consume handled SIGPROF as a stop: the first sampling tick handed the messages back, exit 155.
    const queue = await freshQueue('cpu-prof');
    await publish(queue, Array.from({ length: 20 }, (_, i) => `m${i}`));
    const dir = tempDir();
    const args = ['-q', queue, '--until-empty', '--idle', '0.2', '--', 'sh', '-c', 'cat > /dev/null; sleep 0.01'];
    const run = toRun(await execa(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, DIST('wq-consume'), ...args], { reject: false, env: { BROKER_URL: brokerUrl() }, stdin: 'ignore' }));
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.logs.at(-1)).toMatchObject({ processed: 20, acked: 20 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))).toHaveLength(1);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });
});
