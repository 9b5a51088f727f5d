import { describe, expect, it } from 'vitest';
import { mapFailure, type FailureContext } from '../../src/amqp/failures.js';
import { WqError } from '../../src/errors.js';

// The mapping, with no broker: each error built the way amqplib, node:net or node:tls builds it
// (messages and fields as measured against RabbitMQ 3.10 and amqplib 2.3.1).

const secret = 's3cret-pw';
const url = `amqp://worker:${secret}@rabbit.example:5672/jobs`;
const tlsUrl = `amqps://worker:${secret}@rabbit.example:5671/jobs`;

/** A channel- or connection-close error as amqplib raises it: text plus the numeric reply code. */
function closeError(code: number, name: string, text: string, prefix = 'Channel closed by server'): Error {
  return Object.assign(new Error(`${prefix}: ${code} (${name}) with message "${text}"`), { code, classId: 60, methodId: 40 });
}
function rpcError(code: number, name: string, text: string, method = 'QueueDeclare'): Error {
  return Object.assign(new Error(`Operation failed: ${method}; ${code} (${name}) with message "${text}"`), { code, classId: 50, methodId: 10 });
}
function sysError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' });
}
function tlsError(code: string, message = 'certificate problem'): Error {
  return Object.assign(new Error(message), { code });
}

interface Row {
  name: string;
  raw: unknown;
  ctx?: Partial<FailureContext>;
  exitCode: number;
  retryable: boolean;
  line: RegExp;
}

const rows: Row[] = [
  // connection open
  { name: 'missing vhost (closed during open)', raw: new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), exitCode: 77, retryable: false, line: /vhost "jobs": the vhost does not exist, or user "worker" may not use it/ },
  { name: 'wrong password', raw: new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."'), exitCode: 77, retryable: false, line: /refused access for user "worker": wrong user name or password/ },
  { name: '530 NOT_ALLOWED on connect', raw: new Error('Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - access to vhost \'jobs\' refused for user \'worker\'"'), exitCode: 77, retryable: false, line: /the vhost does not exist/ },
  { name: '402 INVALID_PATH', raw: closeError(402, 'INVALID-PATH', 'INVALID_PATH - vhost', 'Connection closed'), exitCode: 77, retryable: false, line: /the vhost does not exist/ },
  // reply codes on channels and connections
  { name: '320 CONNECTION_FORCED', raw: closeError(320, 'CONNECTION-FORCED', "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'", 'Connection closed'), ctx: { operation: 'connection' }, exitCode: 69, retryable: true, line: /320 CONNECTION_FORCED/ },
  { name: '403 write permission on publish', raw: closeError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - write access to exchange 'amq.default' in vhost 'jobs' refused for user 'worker'"), ctx: { operation: 'basic.publish', queue: 'work' }, exitCode: 77, retryable: false, line: /user "worker" may not publish to queue "work": it lacks the "write" permission on exchange "amq.default" in vhost "jobs"/ },
  { name: '403 configure permission on declare', raw: rpcError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - configure access to queue 'work' in vhost 'jobs' refused for user 'worker'"), ctx: { operation: 'queue.declare', queue: 'work' }, exitCode: 77, retryable: false, line: /may not declare queue "work": it lacks the "configure" permission/ },
  { name: '403 read permission on consume', raw: Object.assign(rpcError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - read access to queue 'work' in vhost 'jobs' refused for user 'worker'", 'BasicConsume'), { classId: 60, methodId: 20 }), ctx: { operation: 'basic.consume', queue: 'work' }, exitCode: 77, retryable: false, line: /may not consume from queue "work": it lacks the "read" permission/ },
  { name: '403 as RabbitMQ 3.10 words it: the permission from the method', raw: closeError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'jobs' refused for user 'worker'"), ctx: { operation: 'basic.publish', queue: 'work' }, exitCode: 77, retryable: false, line: /may not publish to queue "work": it lacks the "write" permission on exchange "amq.default"/ },
  { name: '403 on basic.consume, named by the frame', raw: Object.assign(rpcError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - access to queue 'work' in vhost 'jobs' refused for user 'worker'", 'BasicConsume'), { classId: 60, methodId: 20 }), ctx: { operation: 'consume setup', queue: 'work' }, exitCode: 77, retryable: false, line: /^basic.consume: user "worker" may not consume from queue "work": it lacks the "read" permission/ },
  { name: '403 on an unknown method', raw: Object.assign(rpcError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - access to queue 'work' in vhost 'jobs' refused for user 'worker'"), { classId: 99, methodId: 1 }), ctx: { operation: 'setup', queue: 'work' }, exitCode: 77, retryable: false, line: /lacks a permission \(configure, write or read\)/ },
  { name: '403 reserved amq. prefix', raw: rpcError(403, 'ACCESS-REFUSED', "ACCESS_REFUSED - queue name 'amq.work' contains reserved prefix 'amq.*'"), ctx: { operation: 'queue.declare', queue: 'amq.work' }, exitCode: 64, retryable: false, line: /"amq.work" is reserved/ },
  { name: '404 no queue', raw: rpcError(404, 'NOT-FOUND', "NOT_FOUND - no queue 'work' in vhost 'jobs'"), ctx: { operation: 'queue.declare (passive)', queue: 'work' }, exitCode: 78, retryable: false, line: /queue "work" does not exist/ },
  { name: '404 a queue whose node is down (4.x)', raw: rpcError(404, 'NOT-FOUND', "NOT_FOUND - failed to perform operation on queue 'work' in vhost '/' due to timeout"), ctx: { operation: 'queue.declare (passive)', queue: 'other' }, exitCode: 69, retryable: true, line: /queue "work" is on a RabbitMQ node that is down or not answering/ },
  { name: '404 a queue whose process is stopped', raw: rpcError(404, 'NOT-FOUND', "NOT_FOUND - queue 'work' in vhost '/' process is stopped by supervisor"), ctx: { operation: 'basic.consume', queue: 'work' }, exitCode: 69, retryable: true, line: /queue "work" is on a RabbitMQ node that is down or not answering/ },
  { name: '404 a queue whose node is down (3.x)', raw: rpcError(404, 'NOT-FOUND', "NOT_FOUND - home node 'rabbit@b' of durable queue 'work' in vhost '/' is down or inaccessible"), ctx: { operation: 'queue.declare (passive)', queue: 'work' }, exitCode: 69, retryable: true, line: /queue "work" is on a RabbitMQ node that is down/ },
  { name: '404 no exchange', raw: rpcError(404, 'NOT-FOUND', "NOT_FOUND - no exchange 'ex' in vhost 'jobs'", 'ExchangeDeclare'), exitCode: 78, retryable: false, line: /exchange "ex" does not exist/ },
  { name: '405 RESOURCE_LOCKED', raw: rpcError(405, 'RESOURCE-LOCKED', "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'work' in vhost 'jobs'"), ctx: { operation: 'basic.consume', queue: 'work' }, exitCode: 78, retryable: false, line: /exclusive to another connection/ },
  { name: '406 other arguments', raw: rpcError(406, 'PRECONDITION-FAILED', "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'work' in vhost 'jobs': received the value 'quorum' of type 'longstr' but current is none"), ctx: { operation: 'queue.declare', queue: 'work' }, exitCode: 78, retryable: false, line: /exists with other arguments .*x-queue-type is none there, asked for the value 'quorum'/ },
  { name: '406 acknowledgement timeout', raw: closeError(406, 'PRECONDITION-FAILED', 'PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1800000 ms.'), ctx: { operation: 'connection' }, exitCode: 69, retryable: true, line: /consumer_timeout/ },
  { name: '406 message too large', raw: closeError(406, 'PRECONDITION-FAILED', 'PRECONDITION_FAILED - message size 20971520 is larger than configured max size 16777216'), ctx: { operation: 'basic.publish', queue: 'work' }, exitCode: 65, retryable: false, line: /max_message_size/ },
  { name: '406 unknown delivery tag', raw: closeError(406, 'PRECONDITION-FAILED', 'PRECONDITION_FAILED - unknown delivery tag 7'), ctx: { operation: 'basic.ack' }, exitCode: 70, retryable: false, line: /bug in wq/ },
  { name: '311 CONTENT_TOO_LARGE', raw: closeError(311, 'CONTENT-TOO-LARGE', 'CONTENT_TOO_LARGE'), ctx: { operation: 'basic.publish' }, exitCode: 65, retryable: false, line: /too large/ },
  { name: '501 FRAME_ERROR', raw: closeError(501, 'FRAME-ERROR', 'FRAME_ERROR - type 65, all octets = <<>>', 'Connection closed'), exitCode: 70, retryable: false, line: /protocol error \(501\)/ },
  { name: '505 UNEXPECTED_FRAME', raw: closeError(505, 'UNEXPECTED-FRAME', 'UNEXPECTED_FRAME', 'Connection closed'), exitCode: 70, retryable: false, line: /protocol error \(505\)/ },
  { name: '540 NOT_IMPLEMENTED', raw: closeError(540, 'NOT-IMPLEMENTED', 'NOT_IMPLEMENTED - queue_master_locator'), exitCode: 70, retryable: false, line: /protocol error \(540\)/ },
  { name: '506 RESOURCE_ERROR', raw: closeError(506, 'RESOURCE-ERROR', 'RESOURCE_ERROR', 'Connection closed'), exitCode: 69, retryable: true, line: /506 RESOURCE_ERROR/ },
  { name: '541 INTERNAL_ERROR', raw: closeError(541, 'INTERNAL-ERROR', 'INTERNAL_ERROR'), ctx: { operation: 'basic.consume', queue: 'work' }, exitCode: 69, retryable: true, line: /541 INTERNAL_ERROR/ },
  // amqplib's own limits
  { name: 'queue name over 255 bytes', raw: new TypeError("Field 'queue' is the wrong type; must be a string (up to 255 chars)"), ctx: { operation: 'queue.declare' }, exitCode: 64, retryable: false, line: /queue names are at most 255 bytes/ },
  { name: 'routing key over 255 bytes', raw: new TypeError("Field 'routingKey' is the wrong type; must be a string (up to 255 chars)"), ctx: { operation: 'basic.publish' }, exitCode: 64, retryable: false, line: /routing keys are at most 255 bytes/ },
  { name: 'headers over 64 KiB', raw: new RangeError('Encoded field table (headers or arguments) exceeds the 65536 byte encoding buffer'), ctx: { operation: 'basic.publish' }, exitCode: 64, retryable: false, line: /headers .* too large: amqplib encodes at most 64 KiB/ },
  { name: 'a frame over maxFrameSize', raw: new Error('Frame size 200000 exceeds maxFrameSize 131072'), ctx: { operation: 'basic.consume' }, exitCode: 70, retryable: false, line: /larger than amqplib accepts \(frame_max\)/ },
  { name: 'channel closed under us', raw: new Error('Channel ended, no reply will be forthcoming'), ctx: { operation: 'basic.ack' }, exitCode: 69, retryable: true, line: /lost the connection/ },
  // sockets
  { name: 'ECONNREFUSED', raw: sysError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:5672'), exitCode: 69, retryable: true, line: /nothing listens there/ },
  { name: 'ENOTFOUND', raw: sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND rabbit.example'), exitCode: 69, retryable: true, line: /does not resolve/ },
  { name: 'EAI_AGAIN', raw: sysError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN rabbit.example'), exitCode: 69, retryable: true, line: /does not resolve/ },
  { name: 'ETIMEDOUT (socket)', raw: sysError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:5672'), exitCode: 69, retryable: true, line: /timed out/ },
  { name: 'ETIMEDOUT (amqplib timeout)', raw: new Error('connect ETIMEDOUT'), exitCode: 69, retryable: true, line: /timed out/ },
  { name: 'ECONNRESET', raw: sysError('ECONNRESET', 'read ECONNRESET'), exitCode: 69, retryable: true, line: /reset/ },
  { name: 'EHOSTUNREACH', raw: sysError('EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.1:5672'), exitCode: 69, retryable: true, line: /unreachable/ },
  { name: 'closed in the handshake', raw: new Error('Socket closed abruptly during opening handshake'), exitCode: 69, retryable: true, line: /closed during the AMQP handshake/ },
  { name: 'amqp:// to the TLS port', raw: new Error('Socket closed abruptly during opening handshake'), ctx: { url: url.replace(':5672', ':5671') }, exitCode: 69, retryable: true, line: /Port 5671 usually speaks amqps/ },
  // TLS
  { name: 'amqps:// to a plain port', raw: tlsError('ERR_SSL_WRONG_VERSION_NUMBER', '806C:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl3_record.c:350:\n'), ctx: { url: tlsUrl.replace(':5671', ':5672') }, exitCode: 78, retryable: false, line: /the port answered without TLS. amqps usually listens on 5671/ },
  { name: 'self-signed CA in chain', raw: tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), ctx: { url: tlsUrl }, exitCode: 78, retryable: false, line: /not signed by a CA this client trusts.*--ca/ },
  { name: 'leaf not verifiable', raw: tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), ctx: { url: tlsUrl }, exitCode: 78, retryable: false, line: /not signed by a CA this client trusts/ },
  { name: 'self-signed leaf', raw: tlsError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), ctx: { url: tlsUrl }, exitCode: 78, retryable: false, line: /not signed by a CA this client trusts/ },
  { name: 'expired certificate', raw: tlsError('CERT_HAS_EXPIRED', 'certificate has expired'), ctx: { url: tlsUrl }, exitCode: 78, retryable: false, line: /certificate has expired/ },
  { name: 'hostname mismatch', raw: tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: rabbit.example. is not in the cert's altnames: DNS:localhost"), ctx: { url: tlsUrl }, exitCode: 78, retryable: false, line: /not issued for "rabbit.example"/ },
  { name: 'client certificate required', raw: tlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'), ctx: { url: tlsUrl }, exitCode: 77, retryable: false, line: /refused the TLS handshake .*--cert and --key/ },
  { name: 'client certificate bad', raw: tlsError('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'), ctx: { url: tlsUrl }, exitCode: 77, retryable: false, line: /refused the TLS handshake/ },
  { name: 'handshake failure alert', raw: tlsError('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'sslv3 alert handshake failure'), ctx: { url: tlsUrl }, exitCode: 77, retryable: false, line: /refused the TLS handshake/ },
  { name: 'key does not match certificate', raw: tlsError('ERR_OSSL_X509_KEY_VALUES_MISMATCH', 'key values mismatch'), ctx: { url: tlsUrl }, exitCode: 64, retryable: false, line: /the key must match the certificate/ },
  // anything else keeps the old behaviour: the broker counts as unavailable, and is retried
  { name: 'unknown error', raw: new Error(`something odd at ${url}`), exitCode: 69, retryable: true, line: /unexpected failure/ },
];

describe('mapFailure: every failure to a code, a sentence and a retry decision', () => {
  it.each(rows)('$name', ({ raw, ctx, exitCode, retryable, line }) => {
    const err = mapFailure(raw, { url, operation: 'connect', ...ctx });
    expect(err).toBeInstanceOf(WqError);
    expect(err.exitCode).toBe(exitCode);
    expect(err.retryable).toBe(retryable);
    expect(err.message).toMatch(line);
    // one line, no password, and the library's text kept for the log rather than as the message
    expect(err.message).not.toContain('\n');
    expect(err.message).not.toContain(secret);
    expect(err.detail).toBeDefined();
    expect(err.detail).not.toContain(secret);
    expect(err.message).not.toBe(err.detail);
    expect(err.message).not.toMatch(/ssl3_get_record|Expected ConnectionOpenOk|Field '\w+' is the wrong type/);
  });

  it('passes a WqError through unchanged', () => {
    const err = new WqError('X', 'x', 70);
    expect(mapFailure(err, { url, operation: 'connect' })).toBe(err);
  });

  it('names the vhost "/" for a URL without a path, and decodes %2F', () => {
    const raw = new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    expect(mapFailure(raw, { url: 'amqp://u:p@h', operation: 'connect' }).message).toContain('vhost "/"');
    expect(mapFailure(raw, { url: 'amqp://u:p@h/team%2Fa', operation: 'connect' }).message).toContain('vhost "team/a"');
  });
});
