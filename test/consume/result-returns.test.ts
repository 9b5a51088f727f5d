import { EventEmitter } from 'node:events';
import type { ConsumeMessage, Options } from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/amqp/broker.js';
import { ResultPublisher } from '../../src/consume/results.js';
import type { Outcome } from '../../src/process/outcome.js';

// Which result did the broker return? Two inputs may share a message id (duplicates, retry copies, a
// publisher that reuses ids), so two results with one id and one queue can wait for their confirms at
// once, and RabbitMQ may confirm them out of order (seen: return B, ack B, ack A). The order of frames
// is the broker's to choose, so this test plays it on a stand-in channel; results.test.ts has the rest
// on real brokers. Before the fix a return was matched by queue and message id to the first waiting
// result: B's return marked A, and B's input was acked with its result gone.

interface Sent {
  routingKey: string;
  options: Options.Publish;
  confirm: (err: Error | null) => void;
}

class FakeChannel extends EventEmitter {
  readonly sent: Sent[] = [];
  publish(_exchange: string, routingKey: string, _content: Buffer, options: Options.Publish, confirm: (err: Error | null) => void): boolean {
    this.sent.push({ routingKey, options, confirm });
    return true;
  }
  /** basic.return of a publish, as amqplib emits it. */
  returnOf(s: Sent): void {
    this.emit('return', { fields: { routingKey: s.routingKey, exchange: '' }, properties: { messageId: s.options.messageId, headers: s.options.headers }, content: Buffer.alloc(0) });
  }
}

const input = (messageId: string) => ({ fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'work' }, properties: { messageId, headers: {} }, content: Buffer.from('x') }) as unknown as ConsumeMessage;
const ran = (output: string): Outcome => ({ kind: 'exited', exitCode: 0, durationMs: 1, timedOut: false, stopped: false, output: Buffer.from(output) });

async function twoResultsWithOneId() {
  const ch = new FakeChannel();
  const conn = Object.assign(new EventEmitter(), { createConfirmChannel: async () => ch }) as unknown as Connection; // the publisher listens for the connection's error
  const publisher = new ResultPublisher(conn, { url: 'amqp://guest:guest@127.0.0.1:5672', queue: 'work', resultQueue: 'results', reply: false });
  const a = publisher.sendFor(input('dup'), ran('A'), 1, () => {});
  const b = publisher.sendFor(input('dup'), ran('B'), 1, () => {});
  for (let i = 0; i < 20 && ch.sent.length < 2; i++) await new Promise((r) => setImmediate(r));
  expect(ch.sent).toHaveLength(2);
  const [sentA, sentB] = ch.sent as [Sent, Sent];
  return { ch, a, b, sentA, sentB };
}

describe('a returned result is the one the broker returned, whatever ids the inputs share', () => {
  it('return B, ack B, then ack A: B is handed back (its queue is gone), A is published', async () => {
    const { ch, a, b, sentA, sentB } = await twoResultsWithOneId();
    ch.returnOf(sentB);
    sentB.confirm(null);
    sentA.confirm(null);
    const [ra, rb] = await Promise.all([a, b]);
    expect(rb?.error?.message).toMatch(/^result queue "results" no longer exists/);
    expect(rb?.bytes).toBeUndefined();
    expect(ra).toMatchObject({ bytes: 1 });
    expect(ra?.error).toBeUndefined();
  });

  it('ack A, then return B and ack B in the same read: B is handed back, A is published', async () => {
    const { ch, a, b, sentA, sentB } = await twoResultsWithOneId();
    sentA.confirm(null);
    ch.returnOf(sentB);
    sentB.confirm(null);
    const [ra, rb] = await Promise.all([a, b]);
    expect(rb?.error?.message).toMatch(/^result queue "results" no longer exists/);
    expect(ra).toMatchObject({ bytes: 1 });
    expect(ra?.error).toBeUndefined();
  });

  it('the result carries wq\'s own publish id, so that a return names its publish', async () => {
    const { sentA, sentB, a, b } = await twoResultsWithOneId();
    expect(sentA.options.headers?.['x-wq-publish-id']).toEqual(expect.any(String));
    expect(sentA.options.headers?.['x-wq-publish-id']).not.toBe(sentB.options.headers?.['x-wq-publish-id']);
    expect(sentA.options).toMatchObject({ messageId: 'dup', correlationId: 'dup', mandatory: true, persistent: true });
    sentA.confirm(null);
    sentB.confirm(null);
    await Promise.all([a, b]);
  });
});
