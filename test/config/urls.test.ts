import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConsumeArgs } from '../../src/config/consume.js';
import { parsePublishArgs } from '../../src/config/publish.js';
import { parseUrlList } from '../../src/config/urls.js';
import { UsageError } from '../../src/errors.js';
import { redactText, redactUrl, rememberSecrets, urlPassword } from '../../src/redact.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const consume = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseConsumeArgs(argv, { QUEUE: 'q', ...env });
  if (r.kind !== 'run') throw new Error('expected a run request');
  return r.config;
};

const A = 'amqp://ua:pw-aaaa@h1:5681/v';
const B = 'amqp://ub:pw-bbbb@h2:5682/v';
const C = 'amqps://uc:pw-cccc@h3:5683';

/** The UsageError a call throws (it must throw one). */
function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(64);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('several broker addresses: --url repeated or a comma list, in order; url is the first', () => {
  it('--url given more than once', () => {
    const c = consume(['--url', A, '-u', B, '--url', C, '--', 'cat']);
    expect(c.urls).toEqual([A, B, C]);
    expect(c.url).toBe(A);
  });

  it('a comma-separated list in --url (spaces allowed), and lists mixed with repeats', () => {
    expect(consume(['--url', `${A},${B}`, '--', 'cat']).urls).toEqual([A, B]);
    expect(consume(['--url', `${A}, ${B} ,${C},`, '--', 'cat']).urls).toEqual([A, B, C]);
    expect(consume(['--url', `${A},${B}`, '--url', C, '--', 'cat']).urls).toEqual([A, B, C]);
  });

  it('BROKER_URL, AMQP_URL, --url-file and BROKER_URL_FILE hold lists too (the file also one per line), with the same precedence', () => {
    const dir = tempDir();
    writeFileSync(`${dir}/lines`, `${A}\n${B}\r\n${C}\n`);
    writeFileSync(`${dir}/commas`, `${C},${A}\n`);
    expect(consume(['--', 'cat'], { BROKER_URL: `${B},${A}`, AMQP_URL: C }).urls).toEqual([B, A]);
    expect(consume(['--', 'cat'], { AMQP_URL: `${C},${B}` }).urls).toEqual([C, B]);
    expect(consume(['--url-file', `${dir}/lines`, '--', 'cat'], { BROKER_URL: C })).toMatchObject({ url: A, urls: [A, B, C] });
    expect(consume(['--', 'cat'], { BROKER_URL_FILE: `${dir}/commas`, AMQP_URL: B }).urls).toEqual([C, A]);
    expect(consume(['--url', B, '--', 'cat'], { BROKER_URL: `${A},${C}` }).urls).toEqual([B]);
    expect(consume(['--', 'cat'])).toMatchObject({ url: 'amqp://guest:guest@localhost:5672', urls: ['amqp://guest:guest@localhost:5672'] });
  });

  it('wq-publish reads the same lists', () => {
    const r = parsePublishArgs(['-q', 'q', '--url', A, '--url', `${B},${C}`, 'x'], {}, false);
    if (r.kind !== 'run') throw new Error('expected a run request');
    expect(r.config).toMatchObject({ url: A, urls: [A, B, C] });
  });

  it('a comma inside a password does not split the URL (only a comma before another scheme:// does)', () => {
    expect(parseUrlList('amqp://u:pa,ss@h1,amqp://u:x@h2', '--url')).toEqual(['amqp://u:pa,ss@h1', 'amqp://u:x@h2']);
  });
});

describe('a malformed address is a usage error (64) at once, naming its place and never its text', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['a list without a scheme on the second address', `amqp://u:pw-list1@h1,h2:5672`, /the broker URL \(--url\) has a comma or a space in its host/],
    ['a bad scheme in a list', `${A},http://u:pw-http2@h2`, /broker URL 2 of 2 \(--url\) must start with amqp:\/\/ or amqps:\/\/, not http:\/\//],
    ['no scheme at all', 'h1:5672', /the broker URL \(--url\) must start with amqp:\/\//],
    ['a port out of range', `${A},amqp://u:pw-port3@h2:99999`, /broker URL 2 of 2 \(--url\) cannot be parsed/],
    ['no host', 'amqp://u:pw-nohost@', /cannot be parsed|names no host/],
    ['an empty value', ' , ', /--url holds no broker URL/],
    // It was 69 after --connect-timeout of retries, "cannot reach the broker".
    ['a heartbeat that is not a number', `${A},amqp://u:pw-hb2@h2?heartbeat=abc`, /broker URL 2 of 2 \(--url\) has heartbeat="abc" in its query: heartbeat must be a whole number of seconds\./],
    ['a frameMax that is not a number', 'amqp://u:pw-fm@h?frameMax=-1', /the broker URL \(--url\) has frameMax="-1" in its query: frameMax must be a whole number of bytes\./],
  ];
  it.each(cases)('%s', (_name, url, message) => {
    const err = usageError(() => consume(['--url', url, '--', 'cat']));
    expect(err.message).toMatch(message);
    for (const secret of url.match(/pw-[a-z0-9]+/g) ?? []) expect(err.message).not.toContain(secret);
  });

  it('names the source: BROKER_URL, AMQP_URL, the second --url, the URL file', () => {
    const file = `${tempDir()}/url`;
    writeFileSync(file, `${A}\nftp://x:pw-file@h\n`);
    expect(usageError(() => consume(['--', 'cat'], { BROKER_URL: 'http://u:pw@h' })).message).toMatch(/\(BROKER_URL\) must start/);
    expect(usageError(() => consume(['--', 'cat'], { AMQP_URL: `${A},amqp://u:pw@h:70000` })).message).toMatch(/broker URL 2 of 2 \(AMQP_URL\) cannot be parsed/);
    expect(usageError(() => consume(['--url', A, '--url', 'http://u:pw@h', '--', 'cat'])).message).toMatch(/\(--url number 2\) must start/);
    const fromFile = usageError(() => consume(['--url-file', file, '--', 'cat']));
    expect(fromFile.message).toMatch(new RegExp(`broker URL 2 of 2 \\(--url-file ${file}\\) must start with amqp:// or amqps://, not ftp://`));
    expect(fromFile.message).not.toContain('pw-file');
    expect(usageError(() => consume(['--url', A, '--url-file', file, '--', 'cat'])).message).toBe('pass either --url or --url-file, not both.');
  });

  it('a real process: exit 64 at once, one line, no password of the list in it', async () => {
    const started = Date.now();
    const run = await cli('wq-consume', ['--url', 'amqp://u:pw-real-1@127.0.0.1:1,amqp://u:pw-real-2@h2,h3', '--connect-timeout', '30', '-q', 'q', '--', 'cat']);
    expect(run.exitCode).toBe(64);
    expect(Date.now() - started).toBeLessThan(5000); // not 30 s of retrying
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.logs[0]?.msg).toMatch(/broker URL 2 of 2 \(--url\) has a comma or a space in its host/);
    expect(run.stderr).not.toMatch(/pw-real/);
  });
});

describe('redaction of every password of a list', () => {
  it('redactText removes every remembered password, in URLs and bare', () => {
    rememberSecrets(['amqp://u1:first-secret@h1', 'amqp://u2:second%40secret@h2', 'amqp://u3@h3']);
    const text = 'tried amqp://u1:first-secret@h1 then u2 with second@secret and second%40secret, then first-secret alone';
    const out = redactText(text);
    expect(out).not.toMatch(/first-secret|second@secret|second%40secret/);
    expect(out).toBe('tried amqp://u1:***@h1 then u2 with *** and ***, then *** alone');
  });
});

describe('the final error line is redacted', () => {
  it('a URL given where a path (64) or a command (127) is expected: its password is never printed', async () => {
    const asFile = await cli('wq-consume', ['-q', 'q', '--', 'true'], { noBrokerEnv: true, env: { BROKER_URL_FILE: 'amqp://u:pw-as-file-1@127.0.0.1:1' } });
    expect(asFile.exitCode).toBe(64);
    expect(asFile.logs[0]?.msg).toMatch(/BROKER_URL_FILE/);
    expect(asFile.stderr).not.toContain('pw-as-file-1');
    const asCommand = await cli('wq-consume', ['-q', 'q', '--url', 'amqp://guest:guest@127.0.0.1:1', '--connect-timeout', '1', 'amqp://u:pw-as-command-1@h', '--', 'w']);
    expect(asCommand.exitCode).toBe(127);
    expect(asCommand.logs[0]?.msg).toBe('command "amqp://u:***@h" was not found (no such file). Check the path after "--".');
    expect(asCommand.stderr).not.toContain('pw-as-command-1');
  });
});

describe('a password with a literal "@" (the userinfo ends at the last "@" before the host)', () => {
  const U = 'amqp://user:p@ss,w0rd-at-secret@127.0.0.1:5672/v';
  it('redactUrl, redactText and the remembered secret hide all of it', () => {
    expect(redactUrl(U)).toBe('amqp://user:***@127.0.0.1:5672/v');
    expect(urlPassword(U)).toBe('p@ss,w0rd-at-secret');
    expect(redactText(`could not reach ${U}: refused`)).toBe('could not reach amqp://user:***@127.0.0.1:5672/v: refused');
    rememberSecrets([U]);
    expect(redactText('the password was p@ss,w0rd-at-secret')).toBe('the password was ***');
    expect(redactText('amqp://u@h1,amqp://v:x@y-secret@h2 and amqp://h3:5672')).toBe('amqp://u@h1,amqp://v:***@h2 and amqp://h3:5672');
  });

  it('is accepted as a URL (no "comma in its host"), and a real process never prints it', async () => {
    expect(consume(['--url', U, '--', 'cat']).urls).toEqual([U]);
    const run = await cli('wq-consume', ['--url', 'amqp://user:p@ss-at-secret@127.0.0.1:1/v', '--connect-timeout', '1', '-q', 'q', '--', 'cat']);
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain('amqp://user:***@127.0.0.1:1');
    expect(run.stderr).not.toMatch(/ss-at-secret/);
  });
});
