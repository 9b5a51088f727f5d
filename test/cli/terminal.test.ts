import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { brokerUrl, freshQueue, publish, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, DIST, ROOT } from '../helpers/cli.js';
import { startProxy, urlVia } from '../helpers/proxy.js';
import { tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';
import { CONSUME_OPTIONS } from '../../src/config/consume.js';
import { PUBLISH_OPTIONS } from '../../src/config/publish.js';

// A real pseudo-terminal: util-linux `script` runs the CLI with stdin, stdout and stderr on a pty and
// copies what the terminal shows to its own stdout (stdout and stderr together, lines ending \r\n).
type Name = 'wq-consume' | 'wq-publish';

const ESC = '\x1b';
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** A terminal that does colour, unless a test says otherwise; the test runner's own colour settings left out. */
const ttyEnv = (env: Record<string, string | undefined> = {}) => ({ BROKER_URL: brokerUrl(), AMQP_URL: undefined, QUEUE: undefined, TERM: 'xterm-256color', NO_COLOR: undefined, FORCE_COLOR: undefined, WQ_LOG_FORMAT: undefined, ...env });

function startPty(name: Name, args: string[], env: Record<string, string | undefined> = {}) {
  const command = ['node', DIST(name), ...args].map(quote).join(' ');
  return execa('script', ['-q', '-e', '-c', command, '/dev/null'], { reject: false, env: ttyEnv(env), extendEnv: true, cwd: ROOT, stdin: 'pipe', encoding: 'utf8' });
}

async function underPty(name: Name, args: string[], env: Record<string, string | undefined> = {}) {
  const child = startPty(name, args, env);
  child.stdin?.end();
  const r = await child;
  return { exitCode: r.exitCode, screen: String(r.stdout), lines: lines(String(r.stdout)) };
}

/** The screen's lines: a carriage return redraws a line, so only what follows the last one stays. */
function lines(screen: string): string[] {
  return screen
    .split('\n')
    .map((l) => (l.replace(/\r$/, '').split('\r').pop() as string).replace(/^\x1b\[K/, ''))
    .filter((l) => l.length > 0);
}

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line).level === 'number';
  } catch {
    return false;
  }
};

describe('wq-consume at a terminal', () => {
  // With `stty tostop`, a process of a background process group that writes to the terminal is stopped
  // (SIGTTOU). A command must never be one: it is a session leader with no controlling terminal.
  it.each([
    ['the native spawn', undefined],
    ['node:child_process', 'child_process'],
  ])('with stty tostop, a command that writes to the terminal runs to its end (%s)', async (_how, spawn) => {
    const queue = await freshQueue('tty-tostop');
    await publish(queue, ['item']);
    const wq = ['node', DIST('wq-consume'), '-q', queue, '--', 'sh', '-c', 'cat; echo " written to the terminal"'].map(quote).join(' ');
    const r = await execa('script', ['-q', '-e', '-c', `stty tostop; ${wq}`, '/dev/null'], { reject: false, env: ttyEnv({ WQ_SPAWN: spawn }), extendEnv: true, cwd: ROOT, stdin: 'pipe', encoding: 'utf8', timeout: 20_000 });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(lines(String(r.stdout))).toContain('item written to the terminal');
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('prints sentences on a terminal and pino JSON through a pipe; the same message text', async () => {
    const queue = await freshQueue('tty-ack');
    await publish(queue, ['one\n', 'two\n']);
    const tty = await underPty('wq-consume', ['-q', queue, '--', 'cat']);
    expect(tty.exitCode).toBe(0);
    expect(tty.lines).toContain('one'); // the command's stdout, untouched
    const acked = tty.lines.find((l) => l.includes('command succeeded: acked'));
    expect(acked).toMatch(/^command succeeded: acked {2}\x1b\[2mqueue=\S+ tag=1 duration=\d+ms exitCode=0\x1b\[0m$/);
    expect(tty.lines.filter(isJson)).toEqual([]);

    const piped = await cli('wq-consume', ['-q', queue, '--', 'cat']);
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout).toBe('two\n');
    expect(piped.otherStderr).toEqual([]);
    expect(piped.logs.find((l) => l.msg === 'command succeeded: acked')).toMatchObject({ level: 30, name: 'wq-consume', queue, exitCode: 0 });
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('puts the level word first on a warning and colours it; NO_COLOR and TERM=dumb leave no escape sequence', async () => {
    const queue = await freshQueue('tty-fail');
    await publish(queue, ['x']);
    const coloured = await underPty('wq-consume', ['-q', queue, '--', 'sh', '-c', 'exit 3']);
    expect(coloured.exitCode).toBe(3);
    expect(coloured.lines).toContain(`${ESC}[33mwarning: ${ESC}[0mcommand exited with status 3 on attempt 1: queued for another attempt  ${ESC}[2mqueue=${queue} tag=1 duration=${durationIn(coloured.screen)} exitCode=3${ESC}[0m`);

    for (const env of [{ NO_COLOR: '1' }, { TERM: 'dumb' }]) {
      const plain = await underPty('wq-consume', ['-q', queue, '--', 'sh', '-c', 'exit 3'], env);
      expect(plain.exitCode).toBe(3);
      expect(plain.screen).not.toContain(ESC);
      expect(plain.lines.some((l) => /^warning: command exited with status 3 on attempt \d+: queued for another attempt {2}queue=/.test(l))).toBe(true);
    }
    expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
  });

  it('an error is one line starting "error:", with its exit code', async () => {
    const queue = uniqueQueue('tty-missing');
    const r = await underPty('wq-consume', ['-q', queue, '--', 'cat'], { NO_COLOR: '1' });
    expect(r.exitCode).toBe(78);
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^error: consume setup: queue "${queue}" does not exist .* {2}exitCode=78$`))]);
    expect(await queueExists(queue)).toBe(false);

    const usage = await underPty('wq-consume', ['--bogus'], { NO_COLOR: '1' });
    expect(usage.exitCode).toBe(64);
    expect(usage.lines).toEqual(['error: unknown option --bogus. Run with --help for usage; put the command after "--".  exitCode=64']);
  });

  it('--log-format json (or WQ_LOG_FORMAT=json) keeps JSON on a terminal; --log-format text gives sentences through a pipe, without colour', async () => {
    const queue = await freshQueue('tty-json');
    await publish(queue, ['a', 'b', 'c']);
    for (const [args, env] of [[['--log-format', 'json'], {}], [[], { WQ_LOG_FORMAT: 'json' }]] as const) {
      const r = await underPty('wq-consume', [...args, '-q', queue, '--', 'true'], env);
      expect(r.exitCode).toBe(0);
      expect(r.lines.length).toBeGreaterThan(0);
      expect(r.lines.every(isJson)).toBe(true);
      expect(r.lines.map((l) => JSON.parse(l).msg)).toContain('command succeeded: acked');
    }
    const text = await cli('wq-consume', ['--log-format', 'text', '-q', queue, '--', 'true']);
    expect(text.exitCode).toBe(0);
    expect(text.logs).toEqual([]);
    expect(text.otherStderr).toEqual([`command succeeded: acked  queue=${queue} tag=1 duration=${durationIn(text.stderr)} exitCode=0`]);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });

    const bad = await cli('wq-consume', ['--log-format', 'pretty', '-q', queue, '--', 'true']);
    expect(bad.exitCode).toBe(64);
    expect(bad.logs[0]?.msg).toBe('--log-format must be one of auto, text, json; got "pretty".');
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });
});

describe('wq-publish at a terminal', () => {
  it('ends with the summary as a sentence on a terminal, JSON through a pipe', async () => {
    const queue = uniqueQueue('tty-pub');
    const r = await underPty('wq-publish', ['-q', queue, 'a', 'b', 'c']);
    expect(r.exitCode).toBe(0);
    expect(r.lines.filter(isJson)).toEqual([]);
    expect(r.lines.at(-1)).toMatch(new RegExp(`^published 3 messages to ${queue}, the queue now holds 3 ready messages  ${ESC}\\[2mtime=\\d+ms${ESC}\\[0m$`));
    const piped = await cli('wq-publish', ['-q', queue, 'd']);
    expect(piped.exitCode).toBe(0);
    expect(piped.logs.at(-1)).toMatchObject({ msg: `published 1 message to ${queue}, the queue now holds 4 ready messages`, published: 1, ready: 4 });
    expect(await queueState(queue)).toMatchObject({ ready: 4, unacked: 0 });
  });

  it('shows confirmed against sent and an ETA for a file while the broker is slow to confirm', async () => {
    const queue = uniqueQueue('tty-eta');
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, Array.from({ length: 20_000 }, (_, i) => `item ${i}`).join('\n'));
    const proxy = await startProxy();
    const child = startPty('wq-publish', ['-q', queue, '--url', urlVia(proxy.port), '--window', '5', '--file', file], { NO_COLOR: '1' });
    let screen = '';
    child.stdout?.on('data', (chunk: string) => (screen += chunk));
    // Once the queue is declared, hold back the broker's confirms: the publisher waits with a full window.
    await waitFor(() => screen.includes('declared durable queue'), 'the queue declared');
    proxy.pause();
    await waitFor(() => /ETA \S+/.test(screen), 'a progress line with an ETA');
    expect(screen.split('\r').filter((l) => l.includes('ETA')).at(-1)).toMatch(/^\[[#-]{20}\] +\d+% [\d,]+ confirmed of [\d,]+ sent, [\d,]+ msg\/s, ETA \d+(ms|\.\ds|s|m\d\ds)\x1b\[K$/);
    // Stop it as a person would (Ctrl-C on the terminal), then let the confirms through.
    child.stdin?.write('\x03');
    proxy.resume();
    const r = await child;
    expect(r.exitCode).toBe(130);
    const last = lines(String(r.stdout)).at(-1) ?? '';
    const m = /^published (\d+) messages to \S+, the queue now holds (\d+) ready messages \(stopped by SIGINT; the rest of the input was not published\)\. To resume, run again with the same input and --run-id \w+ --skip (\d+): .* {2}time=\S+/.exec(last);
    expect(m, last).not.toBeNull();
    expect(Number(m?.[2])).toBe(Number(m?.[1]));
    expect(Number(m?.[3])).toBe(Number(m?.[1]));
    expect(await queueState(queue)).toMatchObject({ ready: Number(m?.[1]), unacked: 0 });
  });
});

describe('--help reads like a manual', () => {
  it.each([
    ['wq-consume', CONSUME_OPTIONS, ['Connection', 'Consuming', 'Failures and retries', 'Input and results', 'Logging', 'Other']],
    ['wq-publish', PUBLISH_OPTIONS, ['Connection', 'Input', 'Publishing', 'Message', 'Job manifests', 'Logging', 'Other']],
  ] as const)('%s groups every option under a heading and ends with examples', async (name, specs, headings) => {
    const r = await cli(name, ['--help']);
    expect(r.exitCode).toBe(0);
    const found = r.stdout.split('\n').filter((l) => /^[A-Z][a-z ]+:$/.test(l));
    expect(found).toEqual([...headings.map((h) => `${h}:`), 'Examples:']);
    for (const spec of specs) {
      const section = r.stdout.slice(r.stdout.indexOf(`\n${spec.group}:\n`));
      const block = section.slice(0, section.indexOf('\n\n', 1));
      expect(block, spec.name).toMatch(new RegExp(`--(\\[no-\\])?${spec.name}\\b`));
    }
    expect(r.stdout.indexOf('Examples:')).toBeGreaterThan(r.stdout.indexOf('Exit status'));
    expect(r.stdout).toContain(`  ${name} -q `);
  });
});

/** The duration a line printed (it varies), so the rest of the line can be compared exactly. */
function durationIn(text: string): string {
  return /duration=(\S+?)(\x1b|\s|$)/.exec(text)?.[1] ?? 'none';
}
