import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { admin, freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli, start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// A prefetch above --concurrency lets the broker push the next messages ahead (a drain then never waits
// for the ack round trip), but never runs more commands at once than --concurrency.

// Fails with 9 if another copy of itself is running (mkdir is atomic), else records the body and exits $EXIT.
const exclusive = (dir: string) =>
  `mkdir "${dir}/lock" 2>/dev/null || exit 9; cat >> "${dir}/bodies"; echo >> "${dir}/bodies"; sleep 0.2; rmdir "${dir}/lock"; exit "\${EXIT:-0}"`;

describe('--prefetch above --concurrency', () => {
  it('runs the commands one at a time with --prefetch 3 and acks every message', async () => {
    const queue = await freshQueue('prefetch-serial');
    await publish(queue, ['one', 'two', 'three', 'four']);
    const dir = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--prefetch', '3', '--', 'sh', '-c', exclusive(dir)]);
    expect(run.exitCode).toBe(0);
    expect(readFileSync(`${dir}/bodies`, 'utf8').split('\n').filter(Boolean)).toEqual(['one', 'two', 'three', 'four']);
    expect(run.logs.filter((l) => l.msg === 'command succeeded: acked')).toHaveLength(4);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('runs exactly --count messages, and takes no more than that whatever --prefetch says', async () => {
    const queue = await freshQueue('prefetch-count');
    await publish(queue, ['one', 'two', 'three', 'four', 'five']);
    const dir = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-c', '2', '--prefetch', '4', '--', 'sh', '-c', exclusive(dir)]);
    expect(run.exitCode).toBe(0);
    expect(readFileSync(`${dir}/bodies`, 'utf8').split('\n').filter(Boolean)).toEqual(['one', 'two']);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
    // No more than --count was taken: none of the rest came back marked redelivered, which a classic
    // queue would count as an attempt (WQ_DELIVERY_COUNT 2, and --max-attempts would dead-letter early).
    const rest = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--', 'sh', '-c', `echo "$(cat) $WQ_REDELIVERED $WQ_DELIVERY_COUNT" >> "${dir}/rest"`]);
    expect(rest.exitCode).toBe(0);
    expect(readFileSync(`${dir}/rest`, 'utf8').trim().split('\n')).toEqual(['three false 1', 'four false 1', 'five false 1']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('hands the waiting messages back when a command fails', async () => {
    const queue = await freshQueue('prefetch-fail');
    await publish(queue, ['one', 'two', 'three']);
    const dir = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--prefetch', '3', '--', 'sh', '-c', exclusive(dir)], { env: { EXIT: '3' } });
    expect(run.exitCode).toBe(3);
    expect(readFileSync(`${dir}/bodies`, 'utf8').split('\n').filter(Boolean)).toEqual(['one']);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  });

  it('hands the waiting messages back on SIGTERM', async () => {
    const queue = await freshQueue('prefetch-term');
    await publish(queue, ['one', 'two', 'three']);
    const dir = tempDir();
    const script = `trap 'exit 0' TERM; cat > /dev/null; touch "${dir}/started"; while :; do sleep 0.05; done`;
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--prefetch', '3', '--', 'sh', '-c', script]);
    for (let i = 0; !existsSync(`${dir}/started`) || (await queueState(queue)).unacked < 3; i++) {
      if (i > 300) throw new Error('the command never started, or the prefetch did not fill');
      await sleep(50);
    }
    child.kill('SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode).toBe(143);
    // The running command exited 0 on SIGTERM, but wq had stopped it: its message went back with the two waiting ones.
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  });

  it('a command stopped by --timeout starts no waiting message, even when it exits 0 on SIGTERM', async () => {
    const queue = await freshQueue('prefetch-timeout');
    await publish(queue, ['one', 'two']);
    const dir = tempDir();
    const script = `cat >> "${dir}/bodies"; echo >> "${dir}/bodies"; trap 'exit 0' TERM; while :; do sleep 0.05; done`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--prefetch', '2', '--timeout', '1', '--', 'sh', '-c', script]);
    expect(run.exitCode).toBe(124);
    expect(readFileSync(`${dir}/bodies`, 'utf8').split('\n').filter(Boolean)).toEqual(['one']);
    // 'one' is back as a retry copy (its attempt counted), 'two' was put back (a fresh copy) without running.
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  it('by default a drain holds one message beyond --concurrency, so the next one is ready when a command exits', async () => {
    const queue = await freshQueue('prefetch-default');
    await publish(queue, ['one', 'two', 'three', 'four']);
    const dir = tempDir();
    const script = `cat > /dev/null; touch "${dir}/started"; while [ ! -e "${dir}/go" ]; do sleep 0.05; done`;
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--', 'sh', '-c', script]);
    for (let i = 0; !existsSync(`${dir}/started`) || (await queueState(queue)).unacked < 2; i++) {
      if (i > 300) throw new Error('the command never started, or the next message was not pushed ahead');
      await sleep(50);
    }
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 2, consumers: 1 });
    writeFileSync(`${dir}/go`, '');
    const run = toRun(await child);
    expect(run.exitCode).toBe(0);
    expect(run.logs.filter((l) => l.msg === 'command succeeded: acked')).toHaveLength(4);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('by default -c N never takes more than N: the messages after them were never pushed', async () => {
    const queue = await freshQueue('prefetch-count-default');
    await publish(queue, ['one', 'two', 'three', 'four', 'five']);
    const dir = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-c', '3', '--', 'sh', '-c', exclusive(dir)]);
    expect(run.exitCode).toBe(0);
    expect(readFileSync(`${dir}/bodies`, 'utf8').split('\n').filter(Boolean)).toEqual(['one', 'two', 'three']);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
    const ch = await (await admin()).createChannel();
    const next = await ch.get(queue, { noAck: false });
    expect(next && [next.content.toString(), next.fields.redelivered]).toEqual(['four', false]);
    ch.nack(next as never, false, true);
    await ch.close();
  });
});
