import { AccessRefusedError, UsageError, type WqError, type WqErrorOptions } from '../errors.js';
import type { Failure } from './failure.js';

// 403 ACCESS_REFUSED: a refused login, a reserved name, or a missing permission, named with the
// user, the permission and the queue or exchange, so the fix is one set_permissions away.

// The AMQP method an error names (amqplib copies classId/methodId from the close frame), what it
// does to a queue, and the permission RabbitMQ checks for it (the broker's text does not always say).
const METHODS: Record<string, { name: string; verb: string; permission: string }> = {
  '40,10': { name: 'exchange.declare', verb: 'declare', permission: 'configure' },
  '50,10': { name: 'queue.declare', verb: 'declare', permission: 'configure' },
  '50,20': { name: 'queue.bind', verb: 'bind', permission: 'write' },
  '50,30': { name: 'queue.purge', verb: 'purge', permission: 'read' },
  '50,40': { name: 'queue.delete', verb: 'delete', permission: 'configure' },
  '60,20': { name: 'basic.consume', verb: 'consume from', permission: 'read' },
  '60,40': { name: 'basic.publish', verb: 'publish to', permission: 'write' },
  '60,70': { name: 'basic.get', verb: 'read from', permission: 'read' },
};

function methodOf(f: Failure): { name: string; verb: string; permission: string } | undefined {
  const e = f.raw as { classId?: unknown; methodId?: unknown } | undefined;
  const fromFrame = METHODS[`${String(e?.classId)},${String(e?.methodId)}`];
  return fromFrame ?? Object.values(METHODS).find((m) => m.name === f.operation);
}

export function accessRefused(f: Failure, opts: WqErrorOptions): WqError {
  if (/Login was refused|authentication mechanism/i.test(f.detail) || f.operation === 'connect') {
    return new AccessRefusedError(`${f.operation}: the broker at ${f.safeUrl} refused access for user "${f.user}": wrong user name or password. Check the user, password and host in --url or BROKER_URL.`, f.raw, opts);
  }
  const reserved = /name '([^']*)' contains reserved prefix/.exec(f.detail)?.[1];
  if (reserved !== undefined) return new UsageError(`${f.operation}: the name "${reserved}" is reserved: names starting with "amq." belong to the broker. Choose another name.`, opts);
  const m = /(?:(configure|write|read) )?access to (queue|exchange) '([^']*)' in vhost '([^']*)' refused for user '([^']*)'/.exec(f.detail);
  if (m) {
    const [, named, kind, name, vhost, user] = m;
    const method = methodOf(f);
    const permission = named ?? method?.permission;
    const target = f.queue ? `queue "${f.queue}"` : f.exchange ? `exchange "${f.exchange}"` : `${kind} "${name}"`;
    const verb = method?.verb ?? `run ${f.operation} on`;
    const lacks = permission ? `the "${permission}" permission` : 'a permission (configure, write or read)';
    const grant = permission ? `with the ${permission} pattern matching "${name}"` : `with patterns matching "${name}"`;
    return new AccessRefusedError(
      `${method?.name ?? f.operation}: user "${user}" may not ${verb} ${target}: it lacks ${lacks} on ${kind} "${name}" in vhost "${vhost}". Grant it (rabbitmqctl set_permissions -p ${vhost} ${user} CONFIGURE WRITE READ, ${grant}), or use a user that has it.`,
      f.raw,
      opts,
    );
  }
  return new AccessRefusedError(`${f.operation}: the broker at ${f.safeUrl} refused access (403 ACCESS_REFUSED) for user "${f.user}". Check the user's permissions in vhost "${f.vhost}".`, f.raw, opts);
}
