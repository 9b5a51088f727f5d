import { describe, expect, it } from 'vitest';
import { formatOptions, type OptionSpec } from '../../src/config/args.js';
import { parseConsumeArgs } from '../../src/config/consume.js';
import { parsePublishArgs } from '../../src/config/publish.js';
import { UsageError } from '../../src/errors.js';

const consume = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseConsumeArgs(['-q', 'q', ...argv, '--', 'cat'], env);
  if (r.kind !== 'run') throw new Error('expected a run request');
  return r.config;
};

describe('--log-format', () => {
  it('takes the flag over WQ_LOG_FORMAT over the default, auto', () => {
    expect(consume(['--log-format', 'text'], { WQ_LOG_FORMAT: 'json' }).logFormat).toBe('text');
    expect(consume([], { WQ_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(consume([], { WQ_LOG_FORMAT: '' }).logFormat).toBe('auto');
    expect(consume([]).logFormat).toBe('auto');
  });

  it('is a connection option both CLIs share', () => {
    const r = parsePublishArgs(['-q', 'q', '--log-format=json', 'a'], {}, true);
    expect(r.kind === 'run' && r.config.logFormat).toBe('json');
  });

  it('refuses anything else with a usage error that names the choices', () => {
    expect(() => consume(['--log-format', 'pretty'])).toThrow(new UsageError('--log-format must be one of auto, text, json; got "pretty".'));
    expect(() => consume([], { WQ_LOG_FORMAT: 'yaml' })).toThrow(UsageError);
  });
});

describe('the options part of --help', () => {
  const specs: OptionSpec[] = [
    { group: 'B', name: 'beta', type: 'boolean', help: 'b' },
    { group: 'A', name: 'alpha', short: 'a', type: 'string', arg: 'N', help: 'a' },
    { name: 'loose', type: 'boolean', negatable: true, help: 'l' },
  ];

  it('lists the groups in the order given, then any group not named, one aligned line per option', () => {
    expect(formatOptions(specs, ['A', 'B'])).toBe(
      ['A:', '  -a, --alpha N     a', '', 'B:', '      --beta        b', '', 'Options:', '      --[no-]loose  l'].join('\n'),
    );
  });
});
