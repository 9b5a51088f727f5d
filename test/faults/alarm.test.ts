import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ctl, freshQueue, publish, queueState } from '../helpers/broker.js';
import { start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// A memory alarm blocks every connection that publishes: the broker stops reading it, so a result's
// confirm (and a close-ok) never comes. SIGTERM must still end wq-consume, within --grace + 5 s, with
// the message back in its queue. The alarm is broker-wide: this runs in the faults group, alone, and
// lifts it. Before the fix wq-consume waited for the confirm until it was killed.
const alarms = async () => (await ctl(['eval', 'rabbit_alarm:get_alarms().'])).trim();
const watermark = async () => (await ctl(['eval', 'vm_memory_monitor:get_vm_memory_high_watermark().'])).trim();

it('SIGTERM while a result waits on a connection blocked by a memory alarm: exit within --grace + 5 s, one line, the message back', async () => {
  const queue = await freshQueue('alarm');
  const results = await freshQueue('alarm-out');
  await publish(queue, ['item']);
  const out = tempDir();
  const child = start('wq-consume', ['-q', queue, '--grace', '1', '--result-queue', results, '--', 'sh', '-c', 'cat > /dev/null; touch "$OUT/ran"; while [ ! -f "$OUT/go" ]; do sleep 0.05; done; echo result'], { env: { OUT: out } });
  const before = await watermark();
  let run;
  try {
    await waitFor(() => existsSync(join(out, 'ran')), 'the command to start');
    await ctl(['set_vm_memory_high_watermark', '0.000001']);
    await waitFor(async () => /memory/.test(await alarms()), 'the memory alarm');
    writeFileSync(join(out, 'go'), ''); // the command exits 0: its result is published into the blocked connection
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull(); // still waiting for the confirm
    const signalled = Date.now();
    process.kill(child.pid as number, 'SIGTERM'); // not child.kill(): execa would SIGKILL it 5 s later
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    run = toRun(await child);
    clearTimeout(killer);
    expect(Date.now() - signalled).toBeLessThan(12_000); // --grace 1 + 5, and some room for a busy machine
  } finally {
    await ctl(['eval', `vm_memory_monitor:set_vm_memory_high_watermark(${before}).`]);
    await waitFor(async () => !/memory/.test(await alarms()), 'the alarm to clear');
  }
  expect(run.exitCode).toBe(143);
  expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toContain('the broker has not answered within 6s of the signal (a resource alarm?): closing the connection; the broker puts back every message not acked');
  await waitFor(async () => (await queueState(queue)).ready === 1, 'the message back in its queue');
  expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  // The result may have been routed before the connection was blocked: a duplicate later, never a loss.
  expect((await queueState(results)).ready).toBeLessThanOrEqual(1);
});

// wq-publish stops when the broker answers none of the messages in flight within --connect-timeout (10 s
// at the least). A resource alarm's pause is not that: the blocked connection waits, however long.
it('wq-publish under a memory alarm longer than its answer timeout: it waits, and publishes everything once the alarm clears (exit 0)', async () => {
  const queue = await freshQueue('alarm-pub');
  const before = await watermark();
  let child;
  try {
    await ctl(['set_vm_memory_high_watermark', '0.000001']);
    await waitFor(async () => /memory/.test(await alarms()), 'the memory alarm');
    child = start('wq-publish', ['-q', queue, '--connect-timeout', '1', '--no-progress', 'a', 'b', 'c']);
    await new Promise((r) => setTimeout(r, 13_000));
    expect(child.exitCode).toBeNull(); // still waiting for the broker to unblock
  } finally {
    await ctl(['eval', `vm_memory_monitor:set_vm_memory_high_watermark(${before}).`]);
    await waitFor(async () => !/memory/.test(await alarms()), 'the alarm to clear');
  }
  const run = toRun(await child);
  expect(run.exitCode, run.stderr).toBe(0);
  expect(run.logs.some((l) => /^the broker blocked publishing \(resource alarm\)/.test(l.msg))).toBe(true);
  expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
}, 60_000);
