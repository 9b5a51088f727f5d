import type { ConfirmChannel } from 'amqplib';
import { brokerError, mapFailure, type Connection } from '../amqp/broker.js';
import { declareQueue, queueMissing } from '../amqp/queue.js';
import { QueueConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PublishConfig } from '../config/publish.js';

// A confirm channel with the queue in place: an existing queue is used as it is (whatever its
// arguments); a missing one is declared durable unless --no-declare. An --exchange must exist. A failure
// names `url`, the address conn reached (of several, not always the first).
export async function openChannel(conn: Connection, url: string, config: PublishConfig, log: Logger): Promise<ConfirmChannel> {
  const { queue, exchange } = config;
  let ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  if (exchange) {
    try {
      await ch.checkExchange(exchange);
    } catch (err) {
      const mapped = mapFailure(err, { url, operation: 'exchange.declare (passive)', exchange });
      if (!/\b404\b|NOT_FOUND/.test(String((err as Error).message))) throw mapped;
      throw new QueueConfigError(`exchange "${exchange}" does not exist. Declare it first, or drop --exchange to publish straight to the queue.`, err);
    }
  }
  if (!queue) return ch;
  try {
    await ch.checkQueue(queue);
    return ch;
  } catch (err) {
    // A queue whose node is down is not missing: declaring it would wait for that node too.
    if (!queueMissing(err)) throw brokerError(err, url, 'queue.declare (passive)', queue);
    if (!config.declare) throw new QueueConfigError(`queue "${queue}" does not exist and --no-declare is set. Create it, drop --no-declare, or fix -q/QUEUE.`, err);
  }
  ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  try {
    await declareQueue(ch, queue, config.queueType);
  } catch (err) {
    throw brokerError(err, url, 'queue.declare', queue);
  }
  log.info({ queue, queueType: config.queueType }, `declared durable ${config.queueType === 'quorum' ? 'quorum queue' : 'queue'} "${queue}"`);
  return ch;
}
