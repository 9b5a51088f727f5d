import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { batchSocketWrites } from '../../src/amqp/batch-writes.js';
import { brokerUrl, drain, freshQueue, queueState } from '../helpers/broker.js';

// wq-publish corks the socket around amqplib's mux loop, so a burst of messages leaves in a few writev
// calls instead of one write per message. This reaches into amqplib's internals: these tests fail if an
// amqplib upgrade moves them, and check that every message still arrives, confirmed and in order.
describe('batchSocketWrites', () => {
  it('batches the frames of a burst into writev calls, and every message arrives confirmed and in order', async () => {
    const queue = await freshQueue('batch-writes');
    const conn = await amqp.connect(brokerUrl(), { noDelay: true });
    try {
      expect(batchSocketWrites(conn)).toBe(true);
      const socket = (conn.connection as unknown as { stream: { _write: Function; _writev: Function } }).stream;
      const calls = { write: 0, writev: 0 };
      const write = socket._write;
      const writev = socket._writev;
      socket._write = function (this: unknown, ...args: unknown[]) {
        calls.write++;
        return write.apply(this, args);
      };
      socket._writev = function (this: unknown, ...args: unknown[]) {
        calls.writev++;
        return writev.apply(this, args);
      };
      const ch = await conn.createConfirmChannel();
      const n = 5000;
      let confirmed = 0;
      for (let i = 0; i < n; i++) {
        const ok = ch.publish('', queue, Buffer.from(`m${i}`), { persistent: true }, (err) => {
          if (!err) confirmed++;
        });
        if (!ok) await new Promise((resolve) => ch.once('drain', resolve));
      }
      await ch.waitForConfirms();
      await ch.close();
      expect(confirmed).toBe(n);
      expect(calls.writev).toBeGreaterThan(0);
      expect(calls.write + calls.writev).toBeLessThan(n / 10);
    } finally {
      await conn.close().catch(() => undefined);
    }
    expect(await queueState(queue)).toEqual({ ready: 5000, unacked: 0, consumers: 0 });
    const bodies = (await drain(queue)).map((b) => b.toString());
    expect(bodies).toEqual(Array.from({ length: 5000 }, (_, i) => `m${i}`));
  });

  it('leaves a connection without the expected internals alone', () => {
    expect(batchSocketWrites({ connection: {} } as never)).toBe(false);
    expect(batchSocketWrites({ connection: { stream: { cork() {}, uncork() {} } } } as never)).toBe(false);
  });
});
