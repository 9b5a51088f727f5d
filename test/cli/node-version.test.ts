import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { brokerUrl, drain, freshQueue, publish, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, LAUNCH, NODE } from '../helpers/cli.js';

// The suite runs on the machine's Node, and again (a subset: vitest.config.ts) on Node 22 and 24 with
// WQ_TEST_NODE naming their binaries. This checks that a project really runs the Node its name says:
// WQ_TEST_NODE_VERSION is what vitest.config.ts pinned, the version of the binary the CLIs are started with.
describe('the Node that runs the CLIs under test', () => {
  it('is the version the project names, and wq-consume on it takes and acks a message', async () => {
    const version = (await execa(NODE, ['--version'])).stdout.trim();
    expect(version).toBe(process.env.WQ_TEST_NODE_VERSION ? `v${process.env.WQ_TEST_NODE_VERSION}` : process.version);
    const queue = await freshQueue('node-version');
    await publish(queue, ['on this node']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'cat'], { env: { BROKER_URL: brokerUrl() } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('on this node');
    expect(LAUNCH).toBe(process.env.WQ_TEST_LAUNCH === 'snapshot' ? 'snapshot' : 'bundle');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('runs wq-publish and a drain of a quorum queue, -j 2, with results', async () => {
    const queue = await freshQueue('node-drain', { 'x-queue-type': 'quorum' });
    const results = uniqueQueue('node-drain-out');
    const pub = await cli('wq-publish', ['-q', queue, 'a', 'b', 'c', 'd']);
    expect(pub.exitCode, pub.stderr).toBe(0);
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.3', '-j', '2', '--result-queue', results, '--', 'tr', 'a-z', 'A-Z']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((await drain(results)).map(String).sort()).toEqual(['A', 'B', 'C', 'D']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});
