import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { drain, forget, freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';
import { recorded, tempDir } from '../helpers/files.js';

// Random header tables (binary, NUL bytes, nested, arrays, large, many keys) never stop a command from
// starting, crash a run, or lose a message: each message either runs its command or, failing, goes to
// the dead-letter queue, as the contract says. The seed is in the test's name, to replay a failure.
const SEED = Number(process.env.WQ_TEST_SEED ?? Date.now() % 1_000_000);

function generator(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32);
  const int = (n: number) => Math.floor(next() * n);
  const text = (n: number) => Array.from({ length: n }, () => (next() < 0.1 ? '\0' : next() < 0.2 ? 'é' : String.fromCharCode(97 + int(26)))).join('');
  const value = (depth: number): unknown => {
    const pick = int(depth > 2 ? 5 : 7);
    if (pick === 0) return text(int(40));
    if (pick === 1) return randomBytes(int(200));
    if (pick === 2) return int(1_000_000) - 500_000;
    if (pick === 3) return next() < 0.5;
    // A double as another client sends one; from 2^50 up with a fraction, amqplib cannot encode it again.
    if (pick === 4) return next() < 0.5 ? { '!': 'double', value: (next() < 0.5 ? 1 : -1) * (2 ** 50 + int(2 ** 20) + 0.5) } : next() * 1000;
    if (pick === 5) return Array.from({ length: int(5) }, () => value(depth + 1));
    return table(depth + 1, int(6));
  };
  const table = (depth: number, keys: number): Record<string, unknown> => Object.fromEntries(Array.from({ length: keys }, (_, i) => [`${text(int(8))}${i}`, value(depth)]));
  /** One message's headers: most small, some with many keys, some with one large binary header. */
  const headers = (): Record<string, unknown> => {
    const kind = int(10);
    if (kind === 0) return { big: randomBytes(40_000 + int(20_000)), small: text(10) };
    if (kind === 1) return table(0, 150 + int(100));
    return table(0, 1 + int(12));
  };
  return { headers, int };
}

describe(`random header tables (seed ${SEED})`, () => {
  it.each([
    ['classic', {}],
    ['quorum', { 'x-queue-type': 'quorum' }],
  ])('every message on a %s queue runs its command or is dead-lettered; nothing lost, no 69 or 70', async (_type, args) => {
    const queue = await freshQueue('headers-random', args);
    const dlq = `${queue}.dead`;
    forget(dlq);
    const gen = generator(SEED);
    const bodies: string[] = [];
    for (let i = 0; i < 30; i++) {
      const headers = gen.headers();
      // Large tables fail too: their dead-letter copy leaves out what it cannot carry (header-budget.ts).
      const body = `m${i}:${gen.int(4) === 0 ? 'fail' : 'ok'}`;
      bodies.push(body);
      await publish(queue, [body], { headers, messageId: `id-${i}${gen.int(3) === 0 ? '\0' : ''}` });
    }
    const out = tempDir();
    // As record.sh, and a "fail" body exits 3.
    const worker = ['sh', '-c', 'body=$(cat); f="$OUT/$(date +%s%N)-$$"; printf %s "$body" > "$f"; env | grep "^WQ_" > "$f.env"; case "$body" in *:fail) exit 3;; esac'];
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '-j', '2', '--max-attempts', '1', '--', ...worker], { env: { OUT: out } });
    expect(run.exitCode, run.stderr.slice(-2000)).toBe(0);
    expect(run.logs.filter((l) => l.level >= 50)).toEqual([]);
    const ran = recorded(out).map((r) => r.body.toString());
    expect([...ran].sort()).toEqual([...bodies].sort());
    const dead = (await drain(dlq)).map(String).sort();
    expect(dead).toEqual(bodies.filter((b) => b.endsWith(':fail')).sort());
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });
});
