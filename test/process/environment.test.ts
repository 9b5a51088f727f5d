import { describe, expect, it } from 'vitest';
import { Environment } from '../../src/process/environment.js';

// Both starts read one Environment: the addon its strings, node:child_process its object. They must say the same.
const asRecord = (strings: string[]) => Object.fromEntries(strings.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));

describe('Environment', () => {
  it('leaves out the omitted names and undefined values', () => {
    const env = Environment.of({ PATH: '/bin', SECRET: 'x', GONE: undefined, EMPTY: '' }, ['SECRET']);
    expect(env.record()).toEqual({ PATH: '/bin', EMPTY: '' });
    expect(env.strings().sort()).toEqual(['EMPTY=', 'PATH=/bin']);
  });

  it('keeps a variable named like an Object property, __proto__ included, in both forms', () => {
    // As process.env holds it: an own key (an object literal's `__proto__:` would set the prototype instead).
    const env = Environment.of(Object.fromEntries([['PATH', '/bin'], ['__proto__', 'p'], ['constructor', 'c'], ['toString', 't']]));
    expect(env.strings().sort()).toEqual(['PATH=/bin', '__proto__=p', 'constructor=c', 'toString=t']);
    expect(Object.entries(env.with({ X: '1' }).record()).sort()).toEqual([['PATH', '/bin'], ['X', '1'], ['__proto__', 'p'], ['constructor', 'c'], ['toString', 't']]);
  });

  it("puts a message's variables over the base, each name once, in both forms", () => {
    const base = Environment.of({ PATH: '/bin', A: 'base', B: 'kept=with=equals' });
    const env = base.with({ A: 'message', C: 'new' });
    expect(env.record()).toEqual({ PATH: '/bin', A: 'message', B: 'kept=with=equals', C: 'new' });
    expect(env.strings()).toHaveLength(4);
    expect(asRecord(env.strings())).toEqual(env.record());
  });

  it('leaves the base as it was, for the next message', () => {
    const base = Environment.of({ PATH: '/bin', A: 'base' });
    expect(base.with({ A: 'one', X: '1' }).record()).toEqual({ PATH: '/bin', A: 'one', X: '1' });
    expect(base.record()).toEqual({ PATH: '/bin', A: 'base' });
    expect(base.strings().sort()).toEqual(['A=base', 'PATH=/bin']);
    expect(base.with({ Y: '2' }).with({ Y: '3' }).strings().sort()).toEqual(['A=base', 'PATH=/bin', 'Y=3']);
  });
});
