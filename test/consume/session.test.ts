import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseConsumeArgs, type ConsumeConfig } from '../../src/config/consume.js';
import { ConsumeSession, type QueueProbe, type StartCommand } from '../../src/consume/session.js';
import { waitQueueName } from '../../src/consume/wait-queue.js';
import { createLogger } from '../../src/log.js';
import type { Outcome } from '../../src/process/outcome.js';
import type { Running } from '../../src/process/runner.js';
import { admin, brokerUrl, drainMessages, forget, freshQueue, publish, queueState, readyCount } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

// The session against a real broker channel, with commands the test ends itself: the orders of events a
// CLI test cannot force (a command that exits 0 after being stopped, a start that fails for want of a
// resource, a bug in a start), on a classic and on a quorum queue.

interface Scripted extends Running {
  body: string;
  end(outcome: Partial<Outcome> & Pick<Outcome, 'kind'>): void;
  stops: string[];
}

function scripted(msg: ConsumeMessage): Scripted {
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  const stops: string[] = [];
  let stopped = false;
  return {
    pid: 1,
    done,
    body: msg.content.toString(),
    stops,
    stop: (signal = 'SIGTERM') => {
      stopped = true;
      stops.push(signal);
    },
    end: (o) => resolve({ durationMs: 1, timedOut: false, stopped, exitCode: 0, ...o } as Outcome),
  };
}

async function session(queue: string, args: string[], overrides: Partial<ConsumeConfig> = {}, probe?: () => Promise<QueueProbe>, startHook?: (msg: ConsumeMessage) => void) {
  const request = parseConsumeArgs(['-q', queue, '--log-level', 'silent', ...args, '--', 'true'], { BROKER_URL: brokerUrl() });
  if (request.kind !== 'run') throw new Error('not a run');
  Object.assign(request.config, overrides);
  const conn = await admin();
  const ch = (await conn.createConfirmChannel()) as ConfirmChannel;
  const runs: Scripted[] = [];
  const start: StartCommand = (msg) => {
    startHook?.(msg);
    const run = scripted(msg);
    runs.push(run);
    return run;
  };
  const s = new ConsumeSession(request.config, createLogger('test', 'silent'), ch, start, probe);
  await s.open();
  const finish = async () => {
    await s.closed;
    await s.cancelDone();
    await ch.close().catch(() => undefined);
  };
  return { s, ch, runs, finish };
}

const QUEUE_TYPES = [
  ['classic', {}],
  ['quorum', { 'x-queue-type': 'quorum' }],
] as const;

describe.each(QUEUE_TYPES)('ConsumeSession on a %s queue', (_type, queueArgs) => {
  it('hands back the message of a command it stopped that then exited 0 (a worker that traps SIGTERM): never acked', async () => {
    const queue = await freshQueue('session-trap', queueArgs);
    await publish(queue, ['work']);
    const { s, runs, finish } = await session(queue, []);
    await waitFor(() => runs.length === 1, 'the command running');
    s.signal('SIGTERM');
    expect(runs[0]!.stops).toEqual(['SIGTERM']);
    runs[0]!.end({ kind: 'exited', exitCode: 0 });
    await finish();
    expect(s.end.exitCode).toBe(143);
    expect(s.stats.summary()).toMatchObject({ acked: 0, handedBack: 1 });
    expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
  });

  it('-j 2: SIGTERM stops both running commands and hands back all three messages, the waiting one too', async () => {
    const queue = await freshQueue('session-term-j2', queueArgs);
    await publish(queue, ['one', 'two', 'three']);
    const { s, runs, finish } = await session(queue, ['--until-empty', '-j', '2']);
    await waitFor(() => runs.length === 2, 'two commands running');
    await sleep(100); // the third message arrives and waits for a slot
    s.signal('SIGTERM');
    expect(runs.map((r) => r.stops)).toEqual([['SIGTERM'], ['SIGTERM']]);
    runs[0]!.end({ kind: 'exited', exitCode: 0 });
    runs[1]!.end({ kind: 'signaled', signal: 'SIGTERM' } as Partial<Outcome> & { kind: 'signaled' });
    await finish();
    expect(runs).toHaveLength(2);
    expect(s.end.exitCode).toBe(143);
    expect(await queueState(queue)).toMatchObject({ ready: 3, unacked: 0 });
  });

  it('a start that failed for want of a resource hands its message back as a fresh copy (no attempt spent) and ends the run 71', async () => {
    const queue = await freshQueue('session-eagain', queueArgs);
    await publish(queue, ['work']);
    const { s, runs, finish } = await session(queue, ['--until-empty', '--max-attempts', '3']);
    forget(`${queue}.dead`);
    await waitFor(() => runs.length === 1, 'the start');
    runs[0]!.end({ kind: 'start-failed', error: { code: 'EAGAIN', message: 'spawn EAGAIN' }, transient: true } as Partial<Outcome> & { kind: 'start-failed' });
    await finish();
    expect(s.end.exitCode).toBe(71);
    expect(s.stats.summary()).toMatchObject({ refreshed: 1, acked: 0 });
    const [copy] = await drainMessages(queue);
    expect(copy!.content.toString()).toBe('work');
    expect(copy!.properties.headers?.['x-wq-attempts']).toBe(0);
    expect(copy!.fields.redelivered).toBe(false);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('a bug that throws while starting a command ends the run as an internal error (70), stopping what runs and handing every message back', async () => {
    const queue = await freshQueue('session-bug', queueArgs);
    await publish(queue, ['one', 'two', 'three']);
    let starts = 0;
    const { s, runs, finish } = await session(queue, ['--until-empty', '-j', '2'], {}, undefined, () => {
      if (++starts === 3) throw new Error('a bug in a start');
    });
    await waitFor(() => runs.length === 2, 'two commands running');
    await sleep(100);
    runs[0]!.end({ kind: 'exited', exitCode: 0 }); // frees a slot: the third start throws
    await waitFor(() => runs[1]!.stops.length > 0, 'the other command stopped');
    runs[1]!.end({ kind: 'signaled', signal: 'SIGTERM' } as Partial<Outcome> & { kind: 'signaled' });
    await finish();
    expect(s.end).toMatchObject({ kind: 'fatal', exitCode: 70 });
    expect(s.end.error?.message).toContain('a bug in a start');
    expect(s.stats.summary()).toMatchObject({ acked: 1 });
    expect(await queueState(queue)).toMatchObject({ ready: 2, unacked: 0 });
  });

  it('a bug that throws after a command ended (here its log line) ends the run as an internal error (70) instead of hanging', async () => {
    const queue = await freshQueue('session-throw-after', queueArgs);
    await publish(queue, ['work']);
    const { s, runs, finish } = await session(queue, []);
    await waitFor(() => runs.length === 1, 'the command running');
    (s as unknown as { log: { info: () => void } }).log.info = () => {
      throw new Error('a bug after the exit');
    };
    runs[0]!.end({ kind: 'exited', exitCode: 0 });
    const ended = await Promise.race([finish().then(() => 'closed'), sleep(10_000).then(() => 'still open after 10 s')]);
    expect(ended).toBe('closed');
    expect(s.end.exitCode).toBe(70);
    expect(s.end.error?.message).toContain('a bug after the exit');
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 }); // acked before the log line
  });
});

describe('ConsumeSession: a drain and its own retries', () => {
  // A quorum wait queue's count read under load can come back 0 while the copy waits there (seen once in
  // CI on 4.3): the probe here always says so, and the drain must still wait for the copy it sent.
  it('does not end while a retry copy it sent is still on its way back, whatever the wait queue count says', async () => {
    const queue = await freshQueue('session-own-retry');
    forget(waitQueueName(queue, 1000));
    await publish(queue, ['flaky']);
    const probe = async (): Promise<QueueProbe> => ({ ready: await readyCount(queue), consumers: 0, retriesWaiting: 0 });
    const { s, ch, runs } = await session(queue, ['--until-empty', '--idle', '0.2', '--retry-delay', '1'], {}, probe);
    await waitFor(() => runs.length === 1, 'the first attempt');
    runs[0]!.end({ kind: 'exited', exitCode: 3 });
    await waitFor(() => runs.length === 2, 'the retry, back from the wait queue');
    expect(runs[1]!.body).toBe('flaky');
    runs[1]!.end({ kind: 'exited', exitCode: 0 });
    await s.closed;
    await s.cancelDone();
    await ch.close();
    expect(s.stats.summary()).toMatchObject({ acked: 1, retried: 1 });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(waitQueueName(queue, 1000))).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});
