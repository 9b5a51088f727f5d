import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodFailurePolicyRule } from 'kubernetes-types/batch/v1.js';
import type { ConfigMap, Container } from 'kubernetes-types/core/v1.js';
import type { StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/exit-codes.js';
import { ALL, argv, K8S, only, workloads } from '../helpers/k8s-manifests.js';
import { loadManifests, validateManifests } from '../helpers/k8s-schema.js';
import type { RabbitmqCluster } from '../helpers/rabbitmq-types.js';

// The broker's manifests (k8s/broker.yaml, one node; k8s/rabbitmq-cluster.yaml, three nodes for the
// RabbitMQ Cluster Operator) and what the Jobs do when the broker is in trouble.

/** What a Job's podFailurePolicy does with a failed pod, as Kubernetes decides it: the first rule that matches, else Count. */
function decide(rules: PodFailurePolicyRule[], container: string, exitCode: number, conditions: string[] = []): string {
  for (const r of rules) {
    const codes = r.onExitCodes;
    if (codes && (codes.containerName ?? container) === container && exitCode !== 0) {
      const listed = codes.values.includes(exitCode);
      if (codes.operator === 'In' ? listed : !listed) return r.action;
    }
    if (r.onPodConditions?.some((c) => c.status === 'True' && conditions.includes(c.type))) return r.action;
  }
  return 'Count';
}

const cluster = only<RabbitmqCluster>('rabbitmq-cluster.yaml', 'RabbitmqCluster');
const pdb = only<PodDisruptionBudget>('rabbitmq-cluster.yaml', 'PodDisruptionBudget');
const single = only<StatefulSet>('broker.yaml', 'StatefulSet');
const text = (file: string) => readFileSync(join(K8S, file), 'utf8');

describe('broker trouble never uses up a Job', () => {
  it('every Job: 69 is replaced without counting, configuration errors fail it, disruptions are ignored, the rest counts', () => {
    expect(workloads.length).toBe(4);
    for (const p of workloads) {
      const rules = p.job?.podFailurePolicy?.rules ?? [];
      const c = p.spec.containers[0] as Container;
      const at = (code: number, conditions?: string[]) => `${p.where}: exit ${code}${conditions ? ` with ${conditions.join(',')}` : ''}`;
      expect(decide(rules, c.name, EXIT.BROKER_UNAVAILABLE), at(69)).toBe('Ignore');
      for (const code of [EXIT.USAGE, EXIT.ACCESS_REFUSED, EXIT.CONFIG]) expect(decide(rules, c.name, code), at(code)).toBe('FailJob');
      for (const code of [1, 2, EXIT.INTERNAL, EXIT.TIMEOUT, 137, 143]) expect(decide(rules, c.name, code), at(code)).toBe('Count');
      expect(decide(rules, c.name, 143, ['DisruptionTarget']), at(143, ['DisruptionTarget'])).toBe('Ignore');
      // A 69 on a disrupted pod is ignored too, whichever rule says so first.
      expect(decide(rules, c.name, 69, ['DisruptionTarget'])).toBe('Ignore');
    }
    // The ScaledJob's Jobs have no retry of their own (backoffLimit 0): a 69 must not fail them.
    const sj = workloads.find((p) => p.where.includes('ScaledJob'));
    expect(sj?.job?.backoffLimit).toBe(0);
    expect(decide(sj?.job?.podFailurePolicy?.rules ?? [], 'worker', 69)).toBe('Ignore');
  });

  it('each manifest says in a comment what every exit code its rules name does', () => {
    for (const file of ['job.yaml', 'drain-job.yaml', 'scaledjob.yaml', 'cronjob.yaml']) {
      const comments = text(file).split('\n').filter((l) => /^\s*#/.test(l)).join('\n');
      const rules = ALL.filter((m) => m.file === join(K8S, file)).flatMap((m) => {
        const doc = m.doc as { spec?: { podFailurePolicy?: { rules: PodFailurePolicyRule[] }; jobTemplate?: { spec?: { podFailurePolicy?: { rules: PodFailurePolicyRule[] } } }; jobTargetRef?: { podFailurePolicy?: { rules: PodFailurePolicyRule[] } } } };
        return (doc.spec?.podFailurePolicy ?? doc.spec?.jobTemplate?.spec?.podFailurePolicy ?? doc.spec?.jobTargetRef?.podFailurePolicy)?.rules ?? [];
      });
      expect(rules.length, file).toBe(3);
      for (const code of rules.flatMap((r) => r.onExitCodes?.values ?? [])) expect(comments, `${file}: a comment on exit ${code}`).toMatch(new RegExp(`#\\s+(\\d+ )*${code}\\b`));
      expect(comments, file).toMatch(/#\s+0\s/);
      expect(comments, file).toMatch(/#\s+DisruptionTarget\s/);
      expect(comments, file).toMatch(/#\s+anything else\s/);
    }
  });
});

describe('the broker: one node, or a cluster for the RabbitMQ Cluster Operator', () => {
  it('rabbitmq-cluster.yaml: 3 replicas of a pinned RabbitMQ 4.x, with requests and limits, and a PodDisruptionBudget that keeps a quorum', () => {
    const replicas = cluster.spec.replicas as number;
    expect(replicas).toBe(3);
    expect(cluster.spec.image).toMatch(/^rabbitmq:4\.\d+\.\d+$/);
    for (const kind of ['requests', 'limits'] as const) expect(Object.keys(cluster.spec.resources?.[kind] ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(cluster.spec.resources?.requests?.memory).toBe(cluster.spec.resources?.limits?.memory);
    // The operator makes no PodDisruptionBudget; this one matches the label it gives the cluster's pods.
    expect(pdb.spec?.selector?.matchLabels).toEqual({ 'app.kubernetes.io/name': cluster.metadata?.name });
    const down = pdb.spec?.maxUnavailable as number;
    expect(down).toBeGreaterThan(0);
    expect(replicas - down, 'a quorum of the quorum queues’ members stays up').toBeGreaterThanOrEqual(Math.floor(replicas / 2) + 1);
    expect(pdb.spec?.minAvailable).toBeUndefined();
  });

  it('broker.yaml runs the same pinned image on one node; both make the Service the Secret names', () => {
    const rabbit = single.spec?.template.spec?.containers[0] as Container;
    expect(rabbit.image).toBe(cluster.spec.image);
    // The operator's client Service is named after the cluster: the wq-broker Secret's URL works with either.
    expect(cluster.metadata?.name).toBe(only<{ metadata: { name: string } }>('broker.yaml', 'Service').metadata.name);
  });

  it('quorum queues by default: both brokers declare quorum for queues that do not say, and the seeding CronJob asks for one', () => {
    const conf = /^default_queue_type = quorum$/m;
    expect(cluster.spec.rabbitmq?.additionalConfig).toMatch(conf);
    const config = only<ConfigMap>('broker.yaml', 'ConfigMap');
    const [file, content] = Object.entries(config.data ?? {})[0] as [string, string];
    expect(content).toMatch(conf);
    const rabbit = single.spec?.template.spec?.containers[0] as Container;
    const volume = single.spec?.template.spec?.volumes?.find((v) => v.configMap?.name === config.metadata?.name);
    const mount = rabbit.volumeMounts?.find((m) => m.name === volume?.name);
    // Beside the image's own conf.d files (its listeners), not over the directory.
    expect(mount).toMatchObject({ mountPath: `/etc/rabbitmq/conf.d/${file}`, subPath: file });
    const seed = workloads.find((p) => p.where.includes('CronJob'))?.spec.containers[0] as Container;
    const args = argv(seed);
    expect(args[args.indexOf('--queue-type') + 1]).toBe('quorum');
  });

  it.each([
    ['replicas: 3', 'replica: 3', /RabbitmqCluster rabbitmq\): spec\.replica: .*does not exist in type 'RabbitmqClusterSpec'/],
    ['    storage: 10Gi', '    storage: 10', /spec\.persistence\.storage: Type 'number' is not assignable to type 'string'/],
    ['    additionalConfig: |', '    additionalConf: |', /spec\.rabbitmq\.additionalConf: .*does not exist/],
    ['  maxUnavailable: 1', '  maxUnavailble: 1', /PodDisruptionBudget rabbitmq\): spec\.maxUnavailble: .*does not exist in type 'PodDisruptionBudgetSpec'/],
  ])('rabbitmq-cluster.yaml: "%s" -> "%s" fails', (from, to, expected) => {
    expect(text('rabbitmq-cluster.yaml')).toContain(from);
    const problems = validateManifests(loadManifests(join(K8S, 'rabbitmq-cluster.yaml'), text('rabbitmq-cluster.yaml').replace(from, to)));
    expect(problems.some((p) => expected.test(p)), problems.join('\n')).toBe(true);
  });

  it('a misspelt podFailurePolicy rule fails the type check', () => {
    const from = '      - action: Ignore\n        onExitCodes:';
    expect(text('job.yaml')).toContain(from);
    const problems = validateManifests(loadManifests(join(K8S, 'job.yaml'), text('job.yaml').replace(from, '      - action: Ignore\n        onExitCode:')));
    expect(problems.some((p) => /spec\.podFailurePolicy\.rules\[1\]\.onExitCode: .*does not exist/.test(p)), problems.join('\n')).toBe(true);
  });
});
