import { describe, expect, it } from 'vitest';
import { commandEnvFactory, plainCommandEnv } from '../../src/process/command-env.js';
import { MESSAGE_ENV_KEYS } from '../../src/consume/message-env.js';

// The per-run base prepared once must give the command exactly what `{ ...base, ...perMessage }` gives.
const asMap = (envp: string[]) => new Map(envp.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));

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
    const envp = env.envp();
    const defined = Object.entries(expected).filter(([, v]) => v !== undefined);
    expect(asMap(envp)).toEqual(new Map(defined));
    expect(envp).toHaveLength(defined.length); // no name twice
  });

  it('does not change between messages', () => {
    envFor({ WQ_MESSAGE_ID: 'a', WQ_TYPE: 't' });
    expect(asMap(envFor({ WQ_QUEUE: 'q' }).envp()).get('WQ_MESSAGE_ID')).toBe('from-the-pod');
    expect(asMap(envFor({ WQ_QUEUE: 'q' }).envp()).has('WQ_TYPE')).toBe(false);
  });
});

describe('plainCommandEnv', () => {
  it('leaves out undefined values', () => {
    expect(plainCommandEnv({ A: '1', B: undefined, C: '' }).envp()).toEqual(['A=1', 'C=']);
  });
});
