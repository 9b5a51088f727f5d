import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { tempDir } from './helpers/files.js';

// The logger writes pino's line format to a file descriptor; here the descriptor is a real file.
function capture(fn: (fd: number) => void): Array<Record<string, unknown>> {
  const path = join(tempDir(), 'log.jsonl');
  const fd = openSync(path, 'w');
  fn(fd);
  closeSync(fd);
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('createLogger', () => {
  it('writes pino-format lines: level, time, name, the fields, then msg', () => {
    const before = Date.now();
    const lines = capture((fd) => createLogger('wq-test', 'info', fd).info({ queue: 'q', deliveryTag: 3 }, 'command succeeded: acked'));
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? {};
    expect(Object.keys(line)).toEqual(['level', 'time', 'name', 'queue', 'deliveryTag', 'msg']);
    expect(line).toMatchObject({ level: 30, name: 'wq-test', queue: 'q', deliveryTag: 3, msg: 'command succeeded: acked' });
    expect(line.time as number).toBeGreaterThanOrEqual(before);
  });

  it('takes a message alone, and drops lines below its level', () => {
    const lines = capture((fd) => {
      const log = createLogger('wq-test', 'warn', fd);
      log.debug('not shown');
      log.info({ a: 1 }, 'not shown either');
      log.warn('shown');
      log.error({ code: 'X' }, 'also shown');
      log.fatal('and this');
    });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'shown'],
      [50, 'also shown'],
      [60, 'and this'],
    ]);
  });

  it('is silent at level silent, and says which levels are enabled', () => {
    const lines = capture((fd) => createLogger('wq-test', 'silent', fd).fatal('never'));
    expect(lines).toEqual([]);
    const log = createLogger('wq-test', 'debug', 1);
    expect([log.isLevelEnabled('trace'), log.isLevelEnabled('debug'), log.isLevelEnabled('error'), log.isLevelEnabled('silent')]).toEqual([false, true, true, false]);
  });

  it('escapes messages and fields into valid JSON, one line per event', () => {
    const lines = capture((fd) => createLogger('wq-test', 'info', fd).info({ body: 'a "quoted"\nline' }, 'tab\there\nnewline'));
    expect(lines).toEqual([expect.objectContaining({ body: 'a "quoted"\nline', msg: 'tab\there\nnewline' })]);
  });

  it('serializes errors and bigints, and never throws on a circular field', () => {
    const circular: Record<string, unknown> = { n: 1 };
    circular.self = circular;
    const lines = capture((fd) => {
      const log = createLogger('wq-test', 'info', fd);
      log.error({ err: new TypeError('bad thing') }, 'failed');
      log.info({ big: 10n }, 'big');
      log.info({ circular }, 'circular');
    });
    const [error, big, circ] = lines;
    expect(error?.err).toMatchObject({ type: 'TypeError', message: 'bad thing' });
    expect(String((error?.err as { stack: string }).stack)).toContain('TypeError: bad thing');
    expect(big?.big).toBe('10');
    expect(circ).toMatchObject({ level: 30, msg: 'circular', logFields: 'unserializable' });
  });

  it('child loggers add their bindings to every line', () => {
    const lines = capture((fd) => createLogger('wq-test', 'info', fd).child({ queue: 'jobs' }).warn({ attempt: 2 }, 'retry'));
    expect(lines).toEqual([{ level: 40, time: expect.any(Number), name: 'wq-test', queue: 'jobs', attempt: 2, msg: 'retry' }]);
  });
});
