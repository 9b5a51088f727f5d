import { copyFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { brokerUrl, freshQueue, publish, queueState } from '../helpers/broker.js';
import { BLOB, DIST, errors, FIXTURE, fromSnapshot, ROOT, toRun } from '../helpers/cli.js';
import { recorded, tempDir } from '../helpers/files.js';

// dist/wq-consume.blob, the startup snapshot the image's ENTRYPOINT runs (README, "Start-up"). The
// contract suites run again from it (the "snapshot" project in vitest.config.ts); these are the things
// only a snapshot can get wrong: state captured at build time, the arguments, and finding its addon.
const node = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa('node', args, { reject: false, cwd: opts.cwd ?? ROOT, env: { BROKER_URL: brokerUrl(), QUEUE: undefined, ...opts.env }, stdin: 'ignore', encoding: 'utf8', stripFinalNewline: false }).then(toRun);

describe('wq-consume from its startup snapshot', () => {
  it('npm run build made it, and it prints the same --version and --help as the bundle', async () => {
    expect(existsSync(BLOB)).toBe(true);
    for (const flag of ['--version', '--help']) {
      const [snap, bundle] = await Promise.all([node(fromSnapshot([flag])), node([DIST('wq-consume'), flag])]);
      expect(snap.exitCode).toBe(0);
      expect(snap.stdout).toBe(bundle.stdout);
      expect(snap.stdout.length).toBeGreaterThan(10);
    }
  });

  it("takes options that node would claim for itself (-p, -c), from another directory, with its addon", async () => {
    const queue = await freshQueue('snapshot-args');
    await publish(queue, ['one', 'two', 'three']);
    const out = tempDir();
    const cwd = tempDir();
    // A relative blob path from elsewhere: the addon is found next to the blob, not in the cwd.
    const run = await node(['--snapshot-blob', relative(cwd, BLOB), '--', '-p', '1', '-c', '2', '-q', queue, '--log-level', 'debug', '--', FIXTURE('record.sh')], {
      cwd,
      env: { OUT: out, WQ_SPAWN: 'native' },
    });
    expect(run.exitCode).toBe(0);
    expect(run.logs.some((l) => l.msg.includes('native spawn unavailable'))).toBe(false);
    const got = recorded(out);
    expect(got.map((r) => r.body.toString())).toEqual(['one', 'two']);
    expect(got[0]?.env.WQ_QUEUE).toBe(queue);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('reads the environment and the process of each start, not of the build: the time, QUEUE, BROKER_URL', async () => {
    const queue = await freshQueue('snapshot-fresh');
    await publish(queue, ['a', 'b']);
    const runs = [await node(fromSnapshot(['-q', queue, '--', 'cat'])), await node(fromSnapshot(['--', 'cat']), { env: { QUEUE: queue } })];
    for (const run of runs) {
      expect(run.exitCode).toBe(0);
      expect(Math.abs((run.logs[0]?.time as number) - Date.now())).toBeLessThan(60_000);
    }
    expect(runs.map((r) => r.stdout).sort()).toEqual(['a', 'b']);
    // A wrong password in this start's environment is this start's failure, with the URL redacted.
    const bad = await node(fromSnapshot(['-q', queue, '--', 'cat']), { env: { BROKER_URL: brokerUrl().replace(/:[^:@/]*@/, ':wrong-secret@') } });
    expect(bad.exitCode).toBe(77);
    expect(errors(bad)).toHaveLength(1);
    expect(bad.stderr).not.toContain('wrong-secret');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a copy of the blob without wq-spawn.node starts commands through node:child_process; WQ_SPAWN=native exits 78', async () => {
    const queue = await freshQueue('snapshot-copy');
    await publish(queue, ['copied', 'kept']);
    const blob = `${tempDir()}/wq-consume.blob`;
    copyFileSync(BLOB, blob);
    const run = await node(fromSnapshot(['-q', queue, '--', 'cat'], blob));
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('copied');
    expect(run.logs.find((l) => l.msg.includes('starting commands with node:child_process'))).toMatchObject({ level: 30, reason: 'wq-spawn.node was not built' });
    const native = await node(fromSnapshot(['-q', queue, '--', 'cat'], blob), { env: { WQ_SPAWN: 'native' } });
    expect(native.exitCode).toBe(78);
    expect(errors(native)[0]?.msg).toMatch(/wq-spawn\.node was not built/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
