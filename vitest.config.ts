import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { clusterBroker, testBrokers } from './scripts/brokers.mjs';
import { testNodes } from './scripts/node-versions.mjs';

// The suite runs against every test broker (scripts/brokers.mjs: the machine's RabbitMQ 3.10 and the
// 4.x brokers that scripts/test-setup.sh starts). Groups, in order:
//   0: "unit" and "once" (no broker, or a broker but nothing version-specific: the image, the demo,
//      manifests; on the first broker), "snapshot" (the contract suites again, wq-consume started from
//      dist/wq-consume.blob; on the first broker) beside one project per broker for the AMQP contract suites;
//   1: the fault-injection suite (it restarts its broker and changes broker-wide settings): after
//      everything else, one file at a time per broker, the brokers side by side;
//   2: "cluster": test/cluster/ on the 3-node RabbitMQ 4.3 cluster (scripts/rabbitmq-cluster.sh), which
//      kills and restarts nodes: last, alone, one file at a time. It is not part of the matrix.
// Node versions: the tooling (vitest, tsc, esbuild) and the projects above run on the machine's node.
// The runtime under test runs again on Node 22 and 24 (scripts/node-versions.mjs fetches them; the
// tests start the CLIs with WQ_TEST_NODE), a named subset on one broker of each major version, as
// projects "node22@3.10", "node22@4.3", "node24@3.10", "node24@4.3":
//   - on 3.10, ON_EVERY_NODE: the CLIs end to end (wq-consume's one-shot, -c N, drains, failures,
//     signals and both spawn paths, native and node:child_process; usage, TLS and permission errors);
//   - on both, node-version.test.ts: which Node ran them, wq-publish, and a drain of a quorum queue
//     with results (the whole publish and drain suites ran here too until CI passed 25 minutes).
// The whole suite on three versions would take CI past 20 minutes on two cores. Node 24 starts
// wq-consume from its own startup snapshot (dist/node24/wq-consume.blob, made by that binary: a blob
// only starts on the node that made it), as the image does; Node 22 runs the bundle.
// Results also go to .vitest-results.json (.ci/run prints the count).
const brokers = testBrokers();
const cluster = clusterBroker();
const MATRIX = ['test/consume/**/*.test.ts', 'test/publish/**/*.test.ts', 'test/amqp/**/*.test.ts', 'test/cli/misconfig.test.ts'];
/** What a broker with suites: 'promise' runs: where 4.x versions differ, besides the faults. */
const PROMISE = ['test/consume/delivery-limit.test.ts', 'test/consume/copies.test.ts', 'test/consume/drain.test.ts', 'test/amqp/deprecated.test.ts', 'test/publish/max-size.test.ts'];
/** What runs a second time with wq-consume started from its startup snapshot (the image's ENTRYPOINT). */
const SNAPSHOT = ['test/consume/consume.test.ts', 'test/consume/reliability.test.ts', 'test/cli/misconfig.test.ts'];
/** What runs on Node 22 and 24 as well (see above). */
const ON_EVERY_NODE = ['test/cli/node-version.test.ts', 'test/consume/consume.test.ts', 'test/cli/misconfig.test.ts'];
const ON_EVERY_NODE_4 = ['test/cli/node-version.test.ts'];
const UNIT = ['test/config/**/*.test.ts', 'test/docs/**/*.test.ts', 'test/consume/verdict.test.ts', 'test/consume/result-returns.test.ts', 'test/amqp/header-budget.test.ts', 'test/process/outcome.test.ts', 'test/process/environment.test.ts', 'test/consume/lost-error.test.ts', 'test/publish/progress.test.ts'];
const provide = (b: (typeof brokers)[number]) => ({ brokerUrl: b.url, rabbitmqctl: b.ctl, brokerName: b.name });
const first = brokers[0];

const projects: TestProjectInlineConfiguration[] = [
  { extends: true, test: { name: 'unit', include: UNIT, provide: provide((first ?? cluster)!), sequence: { groupOrder: 0 } } },
  ...(first
    ? [
        {
          extends: true as const,
          test: { name: `once@${first.name}`, include: ['test/**/*.test.ts'], exclude: [...MATRIX, ...UNIT, 'test/faults/**', 'test/cluster/**'], provide: provide(first), sequence: { groupOrder: 0 } },
        },
        {
          extends: true as const,
          test: { name: `snapshot@${first.name}`, include: SNAPSHOT, env: { WQ_TEST_LAUNCH: 'snapshot' }, provide: provide(first), sequence: { groupOrder: 0 } },
        },
      ]
    : []),
  ...brokers.map((b) => ({
    extends: true as const,
    test: { name: `rabbitmq-${b.name}`, include: b.suites === 'promise' ? PROMISE : MATRIX, exclude: UNIT, provide: provide(b), sequence: { groupOrder: 0 } },
  })),
  ...testNodes().flatMap((n) =>
    brokers
      .filter((b) => b.name === 'custom' || b.name.startsWith('3.') || b.name === '4.3')
      .map((b) => ({
        extends: true as const,
        test: {
          name: `node${n.major}@${b.name}`,
          include: b.name.startsWith('4.') ? ON_EVERY_NODE_4 : ON_EVERY_NODE,
          env: { WQ_TEST_NODE: n.node, WQ_TEST_NODE_VERSION: n.version, ...(n.major === '24' ? { WQ_TEST_LAUNCH: 'snapshot', WQ_TEST_BLOB: fileURLToPath(new URL(`dist/node${n.major}/wq-consume.blob`, import.meta.url)) } : {}) },
          provide: provide(b),
          sequence: { groupOrder: 0 },
        },
      })),
  ),
  ...brokers.map((b) => ({
    extends: true as const,
    test: { name: `faults@${b.name}`, include: ['test/faults/**/*.test.ts'], fileParallelism: false, provide: provide(b), sequence: { groupOrder: 1 } },
  })),
  ...(cluster
    ? [
        {
          extends: true as const,
          test: {
            name: 'cluster',
            include: ['test/cluster/**/*.test.ts'],
            fileParallelism: false,
            provide: { ...provide(cluster), clusterUrls: cluster.urls ?? [], clusterScript: cluster.script ?? '' },
            sequence: { groupOrder: 2 },
          },
        },
      ]
    : []),
];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most tests wait on processes and the broker, not on the CPU: four at a time on two cores.
    maxWorkers: 4,
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }], './test/helpers/project-counts.ts'],
    projects,
  },
});
