import type { ConfirmChannel, Options } from 'amqplib';

// Publish one message and resolve only once the broker confirmed it; reject if it was returned
// (mandatory, unroutable) or nacked. A returned message arrives before its confirm.
export async function publishConfirmed(ch: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  let returned: boolean;
  try {
    returned = await publishTracked(ch, exchange, routingKey, content, options);
  } catch (err) {
    // amqplib rejects a nacked publish with "message nacked"; anything else (the channel closed, a message
    // it cannot encode) is said as it is.
    const why = /nack/i.test((err as Error).message) ? 'the broker refused the message (basic.nack)' : `the message could not be published (${(err as Error).message})`;
    throw new Error(`${why} for ${exchange || 'the default exchange'} / ${routingKey}`);
  }
  if (returned) throw new Error(`the message to ${exchange || 'the default exchange'} / ${routingKey} was unroutable (basic.return): does the queue exist?`);
}

/**
 * Publish one message, mandatory, and wait for its confirm: true if the broker returned it (unroutable).
 * Rejects with amqplib's error on a nack or when the channel closes first. A return is matched to its
 * own publish by a header of wq's (x-wq-publish-id), never by message id: two messages may share one,
 * and the broker may confirm them out of order.
 */
export function publishTracked(ch: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<boolean> {
  const returned = trackReturns(ch);
  const id = `${process.pid}-${++sequence}`;
  const headers = { ...options.headers, 'x-wq-publish-id': id };
  return new Promise<boolean>((resolve, reject) => {
    ch.publish(exchange, routingKey, content, { ...options, headers, mandatory: true }, (err) => {
      const wasReturned = returned.delete(id);
      if (err) reject(err);
      else resolve(wasReturned);
    });
  });
}

let sequence = 0;
const returnSets = new WeakMap<ConfirmChannel, Set<string>>();

function trackReturns(ch: ConfirmChannel): Set<string> {
  let set = returnSets.get(ch);
  if (!set) {
    const s = new Set<string>();
    ch.on('return', (msg: { properties: { headers?: Record<string, unknown> } }) => {
      const id = msg.properties.headers?.['x-wq-publish-id'];
      if (typeof id === 'string') s.add(id);
    });
    returnSets.set(ch, s);
    set = s;
  }
  return set;
}
