import { describe, expect, it } from 'vitest';
import { commandEnvFactory, plainCommandEnv, type CommandEnv } from '../../src/process/command-env.js';
import { MESSAGE_ENV_KEYS } from '../../src/consume/message-env.js';

// The per-run base prepared once must give the command exactly what `{ ...base, ...perMessage }` gives.
const asMap = (envp: readonly string[]) => new Map(envp.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
/** What the native spawn gives the command: the base's strings, then the message's own. */
const envpOf = (env: CommandEnv) => {
  const { base, own } = env.envpParts();
  return [...base, ...own];
};

describe('commandEnvFactory', () => {
  const base: NodeJS.ProcessEnv = { PATH: '/bin', HOME: '/root', WQ_MESSAGE_ID: 'from-the-pod', WQ_QUEUE: 'pod-queue', EMPTY: '', GONE: undefined };
  const envFor = commandEnvFactory(base, MESSAGE_ENV_KEYS);

  it.each([
    ['a message that sets some of the variables', { WQ_QUEUE: 'jobs', WQ_DELIVERY_TAG: '7' }],
    ['a message that sets one the base also has', { WQ_QUEUE: 'jobs', WQ_MESSAGE_ID: 'm-1' }],
    ['no variables at all', {}],
  ])('gives the same environment as the object spread: %s', (_what, perMessage: Record<string, string>) => {
    const expected = { ...base, ...perMessage };
    const env = envFor(perMessage);
    expect(env.object()).toEqual(expected);
    const envp = envpOf(env);
    const defined = Object.entries(expected).filter(([, v]) => v !== undefined);
    expect(asMap(envp)).toEqual(new Map(defined));
    expect(envp).toHaveLength(defined.length); // no name twice
  });

  it('hands the native spawn the same base array for every message, the message variables apart', () => {
    const one = envFor({ WQ_QUEUE: 'a' }).envpParts();
    const two = envFor({ WQ_QUEUE: 'b', WQ_DELIVERY_TAG: '2' }).envpParts();
    expect(two.base).toBe(one.base);
    expect(one.base.some((s) => s.startsWith('WQ_'))).toBe(false);
    expect(two.own).toEqual(expect.arrayContaining(['WQ_QUEUE=b', 'WQ_DELIVERY_TAG=2', 'WQ_MESSAGE_ID=from-the-pod']));
  });

  it('does not change between messages', () => {
    envFor({ WQ_MESSAGE_ID: 'a', WQ_TYPE: 't' });
    expect(asMap(envpOf(envFor({ WQ_QUEUE: 'q' }))).get('WQ_MESSAGE_ID')).toBe('from-the-pod');
    expect(asMap(envpOf(envFor({ WQ_QUEUE: 'q' }))).has('WQ_TYPE')).toBe(false);
  });
});

describe('plainCommandEnv', () => {
  it('leaves out undefined values', () => {
    expect(envpOf(plainCommandEnv({ A: '1', B: undefined, C: '' }))).toEqual(['A=1', 'C=']);
  });
});
