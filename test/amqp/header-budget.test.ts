import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodable, fitHeaders, HEADERS_DROPPED, tableBytes } from '../../src/amqp/header-budget.js';

// amqplib's own encoder (not among its exports, so by path): the size fitHeaders() budgets must never be
// less than what amqplib writes, or a copy could still fail to encode.
const codec = createRequire(import.meta.url)(codecPath()) as { encodeTable(buf: Buffer, table: unknown, offset: number): number };
function codecPath(): string {
  return createRequire(import.meta.url).resolve('amqplib').replace(/channel_api\.js$/, 'lib/codec.js');
}
const encoded = (table: Record<string, unknown>) => codec.encodeTable(Buffer.alloc(1 << 20), table, 0);

describe('encodable: what amqplib can encode again as it decoded it', () => {
  const throws = (value: unknown) => {
    try {
      encoded({ k: value });
      return false;
    } catch {
      return true;
    }
  };
  it.each([
    ['a long at the top of its range, rounded to 2^63 (sent again as a double)', 2 ** 63],
    ['the lowest long', -(2 ** 63)],
    ['a long just below the top', 2 ** 63 - 1024],
    ['a double below -2^63', -(2 ** 63) - 4096],
    ['a double NaN', NaN],
    ['a double -Infinity', -Infinity],
    ['a double Infinity', Infinity],
    ['a timestamp of 2^64 - 1, rounded to 2^64', { '!': 'timestamp', value: 2 ** 64 }],
    ['a timestamp just below 2^64', { '!': 'timestamp', value: 2 ** 64 - 4096 }],
    ['a negative timestamp', { '!': 'timestamp', value: -1 }],
    ['a timestamp of now', { '!': 'timestamp', value: 1_700_000_000 }],
    ['a bad timestamp in an array in a table', { deep: [1, { '!': 'timestamp', value: 2 ** 64 }] }],
    ['a good nested table', { deep: [1, 'a', { x: true }] }],
    ['a decimal', { '!': 'decimal', value: { places: 2, digits: 12345 } }],
    ['a table of another client\'s with a "!" key', { '!': 'x', other: 1 }],
    ['a table with a "!" key that names a type', { '!': 'long', note: 'mine' }],
    ['a nested one', { deep: { '!': 'x', v: 1 } }],
    ['a double', 1.5],
    ['a double from 2^50 up with a fraction (amqplib takes it for a long)', 2 ** 50 + 0.5],
    ['the same, negative', -(2 ** 51) - 0.5],
    ['a double just below 2^50 with a fraction', 2 ** 50 - 0.5],
    ['a double in an array', [1, 2 ** 50 + 0.25]],
    ['a string, a buffer, null, a boolean', ['s', Buffer.from('b'), null, true]],
  ])('%s', (_label, value) => {
    expect(encodable(value)).toBe(!throws(value));
  });
});

describe('encodable agrees with amqplib on numbers of every magnitude', () => {
  it('powers of two from 2^-20 to 2^70, each with and without a fraction, both signs', () => {
    const disagree: number[] = [];
    for (let e = -20; e <= 70; e++) {
      for (const base of [2 ** e, 2 ** e + 0.5, 2 ** e - 0.5, 2 ** e * 1.1, 2 ** e + 1]) {
        for (const n of [base, -base]) {
          let threw = false;
          try {
            encoded({ k: n });
          } catch {
            threw = true;
          }
          if (encodable(n) === threw) disagree.push(n);
        }
      }
    }
    expect(disagree).toEqual([]);
  });
});

describe('header budget of a copy', () => {
  it('never counts fewer bytes than amqplib encodes, for every kind of header value', () => {
    const tables: Record<string, unknown>[] = [
      {},
      { s: 'text', e: 'é\u0000', n: 1, big: 70_000, neg: -3_000_000_000, f: 0.5, t: true, nul: null, u: undefined },
      { b: randomBytes(300), a: [1, 'two', [3], { four: 4 }, randomBytes(5)], nested: { deep: { deeper: 'x'.repeat(100) } } },
      { ts: { '!': 'timestamp', value: 1_700_000_000 }, d: { '!': 'decimal', value: { places: 2, digits: 12345 } }, l: { '!': 'long', value: 5 } },
      Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`key-${i}`, i % 2 ? `v${i}` : i])),
    ];
    for (const t of tables) expect(tableBytes(t), JSON.stringify(Object.keys(t))).toBeGreaterThanOrEqual(encoded(t));
  });

  it('keeps a table that fits as it is', () => {
    const original = { a: 'x'.repeat(1000), b: 2 };
    expect(fitHeaders(original, { 'x-wq-attempts': 1 })).toEqual({ a: 'x'.repeat(1000), b: 2, 'x-wq-attempts': 1 });
  });

  it('leaves out the largest headers first, names them (commas escaped), keeps its own, and fits', () => {
    const original = { small: 'kept', 'big,one': 'x'.repeat(40_000), bigger: randomBytes(50_000), medium: 'y'.repeat(5_000) };
    const own = { 'x-wq-attempts': 3, 'x-wq-dead-letter-reason': 'exit 1' };
    const fitted = fitHeaders(original, own, 60_000);
    expect(fitted).toMatchObject({ small: 'kept', medium: 'y'.repeat(5_000), ...own, [HEADERS_DROPPED]: 'bigger' });
    expect(fitted).not.toHaveProperty('bigger');
    expect(encoded(fitted)).toBeLessThanOrEqual(60_000);
    const tighter = fitHeaders(original, own, 10_000);
    expect(tighter[HEADERS_DROPPED]).toBe('bigger,big%2Cone');
    expect(Object.keys(tighter).sort()).toEqual(['medium', 'small', HEADERS_DROPPED, ...Object.keys(own)].sort());
    expect(encoded(tighter)).toBeLessThanOrEqual(10_000);
  });

  it('many small headers: drops as many as it must, and the list of names counts towards the budget', () => {
    const original = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`header-number-${i}`, 'v'.repeat(40)]));
    const fitted = fitHeaders(original, { 'x-wq-attempts': 1 }, 65_024);
    expect(encoded(fitted)).toBeLessThanOrEqual(65_024);
    const dropped = String(fitted[HEADERS_DROPPED]).split(',');
    expect(dropped.length).toBeGreaterThan(0);
    for (const name of dropped) expect(fitted).not.toHaveProperty(name);
    expect(Object.keys(fitted).length - 2 + dropped.length).toBe(2_000);
  });
});
