import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUser, freshQueue, queueState, uniqueQueue, queueExists } from '../helpers/broker.js';
import { cli, type CliRun } from '../helpers/cli.js';
import { clusterScript, nodeUrl } from '../helpers/cluster.js';
import { freePort } from '../helpers/proxy.js';

// Several broker addresses on the 3-node cluster, node 3 stopped: both CLIs pass over it to the next
// address; and no password of any address shows in any line, whether the connect fails, succeeds on
// the second address, or --help is asked for. (With a node down, rabbitmqctl list_queues takes ~7 s and
// deleting a quorum queue ~5 s: node 3 comes back before the queue is read and the file's queues deleted.)

afterAll(async () => {
  await clusterScript('start-node', 3);
}, 180_000);

/** No line of stdout or stderr holds any of the passwords. */
function expectNoPassword(run: CliRun, passwords: string[]): void {
  for (const line of [...run.stdout.split('\n'), ...run.stderr.split('\n')]) {
    for (const p of passwords) expect(line, `a line shows the password ${p}`).not.toContain(p);
  }
}

describe('a list of addresses whose first node is down', () => {
  beforeAll(async () => {
    await clusterScript('stop-node', 3);
  }, 120_000);

  it('wq-publish and wq-consume connect to the next address and work as with one', async () => {
    const queue = await freshQueue('cluster-first-down', { 'x-queue-type': 'quorum' });
    const urls = `${nodeUrl(3)},${nodeUrl(1)},${nodeUrl(2)}`;
    const pub = await cli('wq-publish', ['--url', urls, '-q', queue, 'a', 'b', 'c']);
    expect(pub.exitCode).toBe(0);
    expect(pub.logs[0]).toMatchObject({ level: 40, address: 1, of: 3 });
    expect(pub.logs[0]?.msg).toMatch(/^connect: cannot reach the broker at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5683 \(nothing listens there \(yet\)\)\..* Trying the next address\.$/);
    expect(pub.logs[1]).toMatchObject({ level: 30, address: 2, of: 3, msg: 'connected to the broker at amqp://guest:***@127.0.0.1:5681' });
    expect(pub.logs.at(-1)).toMatchObject({ published: 3, ready: 3 });

    const con = await cli('wq-consume', ['-q', queue, '-c', '3', '--', 'cat'], { env: { BROKER_URL: `${nodeUrl(3)},${nodeUrl(2)}` } });
    expect(con.exitCode).toBe(0);
    expect(con.stdout).toBe('abc');
    expect(con.logs.find((l) => l.msg.startsWith('connected to'))).toMatchObject({ address: 2, of: 2, msg: 'connected to the broker at amqp://guest:***@127.0.0.1:5682' });
    await clusterScript('start-node', 3);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('no password of any address in any line', () => {
  // An address where nothing answers (as a stopped node's): a free port.
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
  });
  const down = (password: string) => `amqp://down:${password}@127.0.0.1:${port}`;

  it('a connect that fails on every address: exit 69 after --connect-timeout, naming the addresses redacted', async () => {
    const queue = uniqueQueue('cluster-none');
    const passwords = ['pw-down-3f9a', 'pw-free-71c2'];
    const nowhere = `amqp://free:${passwords[1]}@127.0.0.1:${await freePort()}`;
    const started = Date.now();
    for (const name of ['wq-publish', 'wq-consume'] as const) {
      const args = name === 'wq-publish' ? ['-q', queue, 'x'] : ['-q', queue, '--', 'cat'];
      const run = await cli(name, ['--url', `${down(passwords[0] as string)},${nowhere}`, '--connect-timeout', '1', ...args]);
      expect(run.exitCode).toBe(69);
      expect(run.logs.at(-1)?.msg).toMatch(/^connect: none of the 2 broker addresses answered within 1s \(--connect-timeout\); the last: connect: cannot reach the broker at amqp:\/\/free:\*\*\*@127\.0\.0\.1:\d+/);
      expect(run.stderr).toContain(`amqp://down:***@127.0.0.1:${port}`);
      expectNoPassword(run, passwords);
    }
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await queueExists(queue)).toBe(false);
  });

  it('a connect that succeeds on the second address, and a malformed third: no password of any of them', async () => {
    const queue = await freshQueue('cluster-second', { 'x-queue-type': 'quorum' });
    const live = await brokerUser('second', { configure: '.*', write: '.*', read: '.*' });
    const passwords = ['pw-down-c0de', new URL(live).password];
    const urls = `${down(passwords[0] as string)},${nodeUrl(2, live)}`;
    const pub = await cli('wq-publish', ['--url', urls, '-q', queue, 'one']);
    expect(pub.exitCode).toBe(0);
    expectNoPassword(pub, passwords);
    const con = await cli('wq-consume', ['-q', queue, '--', 'cat'], { env: { BROKER_URL: urls } });
    expect(con.exitCode).toBe(0);
    expect(con.stdout).toBe('one');
    expectNoPassword(con, passwords);

    const bad = await cli('wq-publish', ['--url', `${urls},amqp://u:pw-bad-9d1e@h1,h2`, '-q', queue, 'two']);
    expect(bad.exitCode).toBe(64);
    expect(bad.logs[0]?.msg).toMatch(/^broker URL 3 of 3 \(--url\) has a comma or a space in its host/);
    expectNoPassword(bad, [...passwords, 'pw-bad-9d1e']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--help with a list in BROKER_URL and AMQP_URL', async () => {
    const passwords = ['pw-help-a1', 'pw-help-b2', 'pw-help-c3'];
    for (const name of ['wq-publish', 'wq-consume'] as const) {
      const run = await cli(name, ['--help'], { env: { BROKER_URL: `${down(passwords[0] as string)},${nodeUrl(1, `amqp://u:${passwords[1]}@x`)}`, AMQP_URL: nodeUrl(2, `amqp://u:${passwords[2]}@x`) } });
      expect(run.exitCode).toBe(0);
      expect(run.stdout).toMatch(/--url URL +broker URL; repeat it, or give a comma-separated list/);
      expectNoPassword(run, passwords);
    }
  });
});
