import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { brokerUrl, freshQueue, publish, queueState } from '../helpers/broker.js';
import { DIST, ROOT, toRun, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// dist/wq-consume: wq-consume as one executable file (scripts/build-sea.mjs; npm test fetches the Node 24
// it is made from). test/image/ runs it in an image without Node; these run it on the host, where the
// things only it can get wrong are quick to reach: its arguments, and its native spawn, an asset written
// to a private temp file at each start.
const SEA = join(ROOT, 'dist/wq-consume');

function sea(args: string[], env: Record<string, string> = {}, file = SEA): Promise<CliRun> {
  return execa(file, args, { reject: false, env: { BROKER_URL: brokerUrl(), QUEUE: undefined, ...env }, stdin: 'ignore', encoding: 'utf8', stripFinalNewline: false }).then(toRun);
}
const ours = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('wq-consume-'));

describe('wq-consume as a single executable', () => {
  it('npm run build made it; its --version and --help are the bundle’s', async () => {
    expect(existsSync(SEA), `${SEA}: npm run build makes it when Node 24 is there (node scripts/node-versions.mjs)`).toBe(true);
    for (const flag of ['--version', '--help']) {
      const [one, bundle] = await Promise.all([sea([flag]), execa('node', [DIST('wq-consume'), flag], { reject: false, stripFinalNewline: false })]);
      expect(one.exitCode).toBe(0);
      expect(one.stdout).toBe(bundle.stdout);
    }
  });

  it('takes node-like options as its own, runs the command with its native spawn, and leaves no temp file', async () => {
    const queue = await freshQueue('sea-native');
    await publish(queue, ['one', 'two', 'three']);
    const tmp = tempDir();
    // -p and -c are node options too; a single executable gives every argument to wq-consume.
    const run = await sea(['-p', '1', '-c', '2', '-q', queue, '--', 'cat'], { WQ_SPAWN: 'native', TMPDIR: tmp });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('onetwo');
    expect(ours(tmp), 'the addon’s private directory is removed at exit').toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('where the addon cannot be written, falls back to node:child_process; WQ_SPAWN=native then exits 78 before taking a message', async () => {
    const queue = await freshQueue('sea-fallback');
    await publish(queue, ['a', 'b']);
    const locked = join(tempDir(), 'ro');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    const asRoot = process.getuid?.() === 0;
    // Root writes through mode bits: a TMPDIR that does not exist stands for a read-only /tmp there.
    const tmp = asRoot ? join(locked, 'missing') : locked;
    // A wq-spawn.node beside the executable would be used instead (dist/ has one): a link elsewhere.
    const alone = join(tempDir(), 'wq-consume');
    try {
      linkSync(SEA, alone);
    } catch {
      copyFileSync(SEA, alone);
    }
    const auto = await sea(['-q', queue, '--', 'cat'], { TMPDIR: tmp }, alone);
    expect(auto.exitCode, auto.stderr).toBe(0);
    expect(auto.stdout).toBe('a');
    const native = await sea(['-q', queue, '--', 'cat'], { TMPDIR: tmp, WQ_SPAWN: 'native' }, alone);
    expect(native.exitCode, native.stderr).toBe(78);
    expect(native.stdout).toBe('');
    expect(native.logs.at(-1)?.msg).toMatch(/WQ_SPAWN=native, but the native spawn cannot be used/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('drains a queue with -j 2 and SIGTERM stops it as the snapshot does: 143, the held message handed back', async () => {
    const queue = await freshQueue('sea-drain');
    const items = Array.from({ length: 12 }, (_, i) => `item-${i}\n`);
    await publish(queue, items);
    const drained = await sea(['-q', queue, '--until-empty', '--idle', '0.5', '-j', '2', '--', 'cat']);
    expect(drained.exitCode, drained.stderr).toBe(0);
    expect(drained.stdout.split('\n').filter(Boolean).sort()).toEqual(items.map((i) => i.trim()).sort());
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });

    await publish(queue, ['held']);
    const child = execa(SEA, ['-q', queue, '--', 'sleep', '300'], { reject: false, env: { BROKER_URL: brokerUrl() }, stdin: 'ignore', encoding: 'utf8' });
    for (let i = 0; i < 100 && (await queueState(queue)).unacked !== 1; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const stopped = toRun(await child);
    expect(stopped.exitCode).toBe(143);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
