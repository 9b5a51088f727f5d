import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, PodSpec, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { EXIT } from '../../src/exit-codes.js';
import { ROOT } from '../helpers/cli.js';
import { type ImageConfig } from '../helpers/dockerfile.js';
import type { ScaledJob } from '../helpers/keda-types.js';
import { loadManifests, validateManifests } from '../helpers/k8s-schema.js';
import { ALL, argv, consumeConfig, containersOf, EXAMPLE_DF, env, filesIn, IMAGES, K8S, named, ofKind, only, pods, runsConsume, section, WQ_CONSUME, WQ_IMAGE, workloads } from '../helpers/k8s-manifests.js';


describe('every manifest under k8s/ validates offline against Kubernetes API types', () => {
  it('holds the broker (one node, or a cluster for the operator), its Secret and the three Job patterns, all valid', () => {
    expect(ALL.map((m) => `${m.file.replace(`${K8S}/`, '')}: ${String(m.doc.kind)}`).sort()).toEqual([
      'broker.yaml: ConfigMap',
      'broker.yaml: Service',
      'broker.yaml: StatefulSet',
      'cronjob.yaml: ConfigMap',
      'cronjob.yaml: CronJob',
      'drain-job.yaml: Job',
      'job.yaml: Job',
      'rabbitmq-cluster.yaml: PodDisruptionBudget',
      'rabbitmq-cluster.yaml: RabbitmqCluster',
      'scaledjob.yaml: ScaledJob',
      'secret.yaml: Secret',
    ]);
    expect(validateManifests(ALL)).toEqual([]);
  });

  // Each mistake is made in the YAML text, as a person would make it; the unmutated files pass above.
  it.each([
    ['job.yaml', 'completions: 8', 'completionz: 8', /job\.yaml document 1 \(Job job-wq-1\): spec\.completionz: .*'"completionz"' does not exist in type 'JobSpec'/],
    ['job.yaml', 'completions: 8', 'completions: eight', /spec\.completions: Type 'string' is not assignable to type 'number'/],
    ['job.yaml', 'readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true', /spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem: .*does not exist in type 'SecurityContext'/],
    ['job.yaml', '      containers:', '      container:', /spec\.template\.spec\.container: .*does not exist in type 'PodSpec'/],
    ['job.yaml', 'apiVersion: batch/v1', 'apiVersion: apps/v1', /apiVersion\/kind: .*has no exported member .*'Job'/],
    ['broker.yaml', 'containerPort: 5672', 'containerPort: "5672"', /StatefulSet rabbitmq\): spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: Type 'string' is not assignable to type 'number'/],
    ['cronjob.yaml', 'concurrencyPolicy: Forbid', 'concurrencyPolicy: [Forbid]', /spec\.concurrencyPolicy: Type 'string\[\]' is not assignable to type 'string'/],
    ['scaledjob.yaml', 'pendingPodConditions: [Ready]', 'pendingPodCondition: [Ready]', /ScaledJob wq-scaled\): spec\.scalingStrategy\.pendingPodCondition: .*does not exist in type 'ScalingStrategy'/],
    ['scaledjob.yaml', 'strategy: accurate', 'strategy: acurate', /spec\.scalingStrategy\.strategy: Type '"acurate"' is not assignable/],
    ['scaledjob.yaml', 'value: "1"', 'value: 1', /spec\.triggers\[0\]\.metadata\.value: Type 'number' is not assignable to type 'string'/],
    ['scaledjob.yaml', '    podReplacementPolicy: Failed', '    podReplacementPolicy: Failed\n    completionz: 1', /spec\.jobTargetRef\.completionz: .*does not exist in type 'JobSpec'/],
    ['secret.yaml', 'stringData:', 'stringdata:', /'"stringdata"' does not exist in type 'Secret'/],
  ])('%s: "%s" -> "%s" fails', (file, from, to, expected) => {
    const text = readFileSync(join(K8S, file), 'utf8');
    expect(text).toContain(from);
    const problems = validateManifests(loadManifests(join(K8S, file), text.replace(from, to)));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.some((p) => expected.test(p)), problems.join('\n')).toBe(true);
  });

  it('rejects a YAML mistake (a duplicated key) before any type check', () => {
    const text = readFileSync(join(K8S, 'job.yaml'), 'utf8').replace('  parallelism: 2\n', '  parallelism: 2\n  parallelism: 3\n');
    expect(() => loadManifests(join(K8S, 'job.yaml'), text)).toThrow(/job\.yaml document 1: .*unique/i);
  });
});

describe('the files agree with each other', () => {
  const secrets = ofKind<Secret>('Secret');

  it('every Secret a pod reads exists in k8s/ with that key', () => {
    const refs = pods.flatMap((p) => containersOf(p.spec).flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [{ where: `${p.where} ${c.name} ${e.name}`, ...e.valueFrom.secretKeyRef }] : []))));
    expect(refs.length).toBeGreaterThanOrEqual(5);
    for (const ref of refs) {
      const secret = secrets.find((s) => s.metadata?.name === ref.name);
      expect(secret, `${ref.where}: Secret ${ref.name}`).toBeDefined();
      expect(Object.keys({ ...secret?.data, ...secret?.stringData }), `${ref.where}: key ${ref.key}`).toContain(ref.key);
    }
  });

  it("the Secret's url is the broker's account at the broker's Service", () => {
    const secret = only<Secret>('secret.yaml', 'Secret');
    const data = secret.stringData ?? {};
    const url = new URL(data.url as string);
    const service = only<Service>('broker.yaml', 'Service');
    expect(url.protocol).toBe('amqp:');
    expect(decodeURIComponent(url.username)).toBe(data.username);
    expect(decodeURIComponent(url.password)).toBe(data.password);
    expect(url.hostname).toBe(service.metadata?.name);
    expect(Number(url.port)).toBe(service.spec?.ports?.find((p) => p.name === 'amqp')?.port);
    // The broker creates that account from the same Secret.
    const broker = only<StatefulSet>('broker.yaml', 'StatefulSet').spec?.template.spec?.containers[0] as Container;
    expect(env(broker, 'RABBITMQ_DEFAULT_USER')?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata?.name, key: 'username' });
    expect(env(broker, 'RABBITMQ_DEFAULT_PASS')?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata?.name, key: 'password' });
  });

  it('every Job reads BROKER_URL from the Secret and works on one queue, the one the walk-through publishes to', () => {
    const queues = new Set<string | undefined>();
    for (const p of workloads) {
      for (const c of p.spec.containers) {
        expect(env(c, 'BROKER_URL')?.valueFrom?.secretKeyRef, `${p.where} ${c.name}`).toEqual({ name: 'wq-broker', key: 'url' });
        queues.add(env(c, 'QUEUE')?.value);
      }
    }
    expect([...queues]).toEqual(['job1']);
    expect(section('A walk-through on kind')).toContain('wq-publish.mjs -q job1 --file items.txt --job k8s/job.yaml | kubectl apply -f -');
  });

  it('the images are the ones docker/ builds, and the walk-through builds and loads them under those names', () => {
    const used = new Set(workloads.flatMap((p) => p.spec.containers.map((c) => c.image)));
    expect([...used].sort()).toEqual(['wq-example:latest', 'wq:latest']);
    // Images loaded into kind or minikube by hand are not in any registry: never pull them.
    for (const p of workloads) for (const c of p.spec.containers) expect(c.imagePullPolicy, `${p.where} ${c.name}`).toBe('IfNotPresent');
    expect(EXAMPLE_DF.stages[0]?.image).toBe('wq:latest');
    const run = section('A walk-through on kind');
    expect(run).toContain('docker build -f docker/Dockerfile -t wq .');
    expect(run).toContain('docker build -f docker/example/Dockerfile -t wq-example .');
    expect(run).toContain('kind load docker-image wq:latest wq-example:latest');
    expect(run).toContain('minikube image load wq:latest && minikube image load wq-example:latest');
  });

  it('every container runs a file its image holds, with arguments wq-consume accepts', () => {
    for (const p of workloads) {
      for (const c of p.spec.containers) {
        const files = filesIn(IMAGES[c.image as string] as ImageConfig);
        if (runsConsume(c)) {
          const config = consumeConfig(c);
          expect(files, `${p.where}: the worker ${config.command}`).toContain(config.command);
        } else {
          // The seeding CronJob: the image's init and Node (the ENTRYPOINT up to node), running wq-publish
          // instead of wq-consume's snapshot.
          const cmd = argv(c);
          const initAndNode = WQ_CONSUME.slice(0, WQ_CONSUME.indexOf('/usr/local/bin/node') + 1);
          expect(initAndNode.length).toBeGreaterThan(1);
          expect(cmd.slice(0, initAndNode.length)).toEqual(initAndNode);
          expect(files).toContain(cmd[initAndNode.length]);
          expect(cmd[initAndNode.length]).toBe('/opt/wq/wq-publish.mjs');
        }
      }
    }
  });

  it("terminationGracePeriodSeconds exceeds wq-consume's --grace in every Job", () => {
    for (const p of workloads) {
      for (const c of p.spec.containers.filter(runsConsume)) {
        const grace = consumeConfig(c).graceSeconds;
        expect(p.spec.terminationGracePeriodSeconds, `${p.where}: grace ${grace}`).toBeGreaterThan(grace);
      }
      expect(p.spec.terminationGracePeriodSeconds, p.where).toBeGreaterThan(DEFAULTS.graceSeconds);
    }
  });

  it('every pod runs as non-root, read-only, without capabilities, under RuntimeDefault seccomp, with requests and limits', () => {
    expect(pods).toHaveLength(5);
    for (const p of pods) {
      expect(p.spec.securityContext?.runAsNonRoot, p.where).toBe(true);
      for (const c of containersOf(p.spec)) {
        const at = `${p.where} container ${c.name}`;
        expect(c.securityContext?.seccompProfile?.type ?? p.spec.securityContext?.seccompProfile?.type, at).toBe('RuntimeDefault');
        expect(c.securityContext?.readOnlyRootFilesystem, at).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, at).toBe(false);
        expect(c.securityContext?.capabilities?.drop, at).toContain('ALL');
        expect(c.securityContext?.capabilities?.add ?? [], at).toEqual([]);
        expect(c.securityContext?.privileged ?? false, at).toBe(false);
        for (const kind of ['requests', 'limits'] as const) {
          expect(Object.keys(c.resources?.[kind] ?? {}).sort(), `${at} resources.${kind}`).toEqual(['cpu', 'memory']);
        }
      }
    }
    // runAsNonRoot needs a numeric user to check: the image's USER, or the pod's runAsUser.
    expect(WQ_IMAGE.user).toMatch(/^[1-9]\d*(:\d+)?$/);
  });

  it("every Job's podFailurePolicy is built on wq's exit codes, with the restartPolicy Kubernetes requires for it", () => {
    const configErrors = [EXIT.USAGE, EXIT.ACCESS_REFUSED, EXIT.CONFIG, EXIT.COMMAND_NOT_EXECUTABLE, EXIT.COMMAND_NOT_FOUND];
    for (const p of workloads) {
      const rules = p.job?.podFailurePolicy?.rules ?? [];
      // Kubernetes rejects a podFailurePolicy unless the pods' restartPolicy is Never.
      expect(p.spec.restartPolicy, p.where).toBe('Never');
      const failJob = rules.filter((r) => r.action === 'FailJob');
      expect(failJob, p.where).toHaveLength(1);
      const codes = failJob[0]?.onExitCodes;
      expect(codes?.operator).toBe('In');
      expect(p.spec.containers.map((c) => c.name), p.where).toContain(codes?.containerName);
      const consumer = p.spec.containers.some(runsConsume);
      // wq-publish has no worker to run: its configuration errors are the connection's.
      expect(codes?.values, p.where).toEqual(consumer ? configErrors : configErrors.slice(0, 3));
      expect(codes?.values, `${p.where}: 0 and the retryable codes must count`).not.toContain(EXIT.OK);
      expect(codes?.values).not.toContain(EXIT.BROKER_UNAVAILABLE);
      // Broker trouble is not the pod's fault: 69 is ignored (the pod replaced, not counted), and so
      // are disruptions; nothing else is.
      const ignore = rules.filter((r) => r.action === 'Ignore');
      expect(ignore.map((r) => r.onExitCodes ?? r.onPodConditions), p.where).toEqual([
        { containerName: codes?.containerName, operator: 'In', values: [EXIT.BROKER_UNAVAILABLE] },
        [{ type: 'DisruptionTarget', status: 'True' }],
      ]);
      expect(rules.map((r) => r.action), p.where).toEqual(['FailJob', 'Ignore', 'Ignore']);
    }
  });
});

describe('the three Job patterns', () => {
  it('job.yaml, the coarse pattern: 8 completions, 2 at a time, one message per pod', () => {
    const job = only<Job>('job.yaml', 'Job');
    expect(job.spec?.completions).toBe(8);
    expect(job.spec?.parallelism).toBe(2);
    const config = consumeConfig(job.spec?.template.spec?.containers[0] as Container);
    expect(config).toMatchObject({ count: 1, untilEmpty: false, queue: 'job1', command: '/app/worker.sh', graceSeconds: 20 });
  });

  it('drain-job.yaml, the fine-parallel pattern: no completions, N pods, each draining until empty', () => {
    const job = only<Job>('drain-job.yaml', 'Job');
    expect(job.spec?.completions).toBeUndefined();
    expect(job.spec?.parallelism).toBeGreaterThan(1);
    const config = consumeConfig(job.spec?.template.spec?.containers[0] as Container);
    expect(config).toMatchObject({ untilEmpty: true, count: 0, queue: 'job1', command: '/app/worker.sh' });
  });

  it('cronjob.yaml, the scheduled pattern: seeds the queue from its ConfigMap, never two at once, bounded history', () => {
    const cron = only<CronJob>('cronjob.yaml', 'CronJob');
    expect(cron.spec?.schedule.split(/\s+/)).toHaveLength(5);
    expect(cron.spec?.concurrencyPolicy).toBe('Forbid');
    expect(cron.spec?.successfulJobsHistoryLimit).toBeGreaterThan(0);
    expect(cron.spec?.failedJobsHistoryLimit).toBeGreaterThan(0);
    const pod = cron.spec?.jobTemplate.spec?.template.spec as PodSpec;
    const seed = pod.containers[0] as Container;
    const file = seed.args?.[seed.args.indexOf('--file') + 1] as string;
    const mount = seed.volumeMounts?.find((v) => file.startsWith(`${v.mountPath}/`));
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    const configMap = named('cronjob.yaml').find((m) => m.doc.kind === 'ConfigMap')?.doc as { metadata: { name: string }; data: Record<string, string> };
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    const items = configMap.data[file.slice((mount?.mountPath as string).length + 1)];
    expect(items?.trim().split('\n').length).toBeGreaterThan(0);
  });

  it('every Job under k8s/ writes out podReplacementPolicy Failed; the ones KEDA does not manage have a TTL', () => {
    for (const p of workloads) {
      expect(p.job?.podReplacementPolicy, p.where).toBe('Failed');
      if (!p.where.includes('ScaledJob') && !p.where.includes('CronJob')) expect(p.job?.ttlSecondsAfterFinished, p.where).toBeGreaterThan(0);
    }
    // job.yaml sets --timeout: its pod deadline is above --timeout + --grace.
    const job = only<Job>('job.yaml', 'Job');
    const config = consumeConfig(job.spec?.template.spec?.containers[0] as Container);
    expect(config.timeoutSeconds).toBeGreaterThan(0);
    expect(job.spec?.template.spec?.activeDeadlineSeconds).toBeGreaterThan(config.timeoutSeconds + config.graceSeconds);
  });

  it('scaledjob.yaml, the event-driven pattern: accurate + pendingPodConditions [Ready], a readiness probe on the acquired file', () => {
    const sj = only<ScaledJob>('scaledjob.yaml', 'ScaledJob');
    expect(sj.spec.scalingStrategy).toEqual({ strategy: 'accurate', pendingPodConditions: ['Ready'] });
    const pod = sj.spec.jobTargetRef.template.spec as PodSpec;
    const worker = pod.containers.find((c) => c.name === sj.spec.envSourceContainerName) as Container;
    expect(worker, 'envSourceContainerName names the worker').toBeDefined();
    const config = consumeConfig(worker);
    // One message, or exit 0 after --idle when another pod took it.
    expect(config).toMatchObject({ count: 1, untilEmpty: true, queue: 'job1', command: '/app/worker.sh' });
    expect(config.idleSeconds).toBeGreaterThan(0);
    const [trigger] = sj.spec.triggers;
    expect(sj.spec.triggers).toHaveLength(1);
    expect(trigger?.metadata).toMatchObject({ protocol: 'amqp', mode: 'QueueLength', value: '1', queueName: config.queue, hostFromEnv: 'BROKER_URL' });
    expect(env(worker, 'BROKER_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'wq-broker', key: 'url' });
    // The probe tests the file wq-consume creates, on a writable emptyDir (the root filesystem is read-only).
    expect(worker.readinessProbe?.exec?.command).toEqual(['test', '-f', config.acquiredFile]);
    const mount = worker.volumeMounts?.find((v) => config.acquiredFile.startsWith(`${v.mountPath}/`));
    expect(pod.volumes?.find((v) => v.name === mount?.name)?.emptyDir).toBeDefined();
    // One pod per Job, as job.yaml's: same podFailurePolicy (checked above for every Job), no retry pod.
    expect(sj.spec.jobTargetRef).toMatchObject({ parallelism: 1, completions: 1, backoffLimit: 0 });
    expect(sj.spec.jobTargetRef.podFailurePolicy).toEqual(only<Job>('job.yaml', 'Job').spec?.podFailurePolicy);
    expect(pod.activeDeadlineSeconds).toBeGreaterThan(config.timeoutSeconds + config.graceSeconds + config.idleSeconds);
  });

  it('broker.yaml: a StatefulSet governed by a headless Service, with a volume and a readiness probe', () => {
    const service = only<Service>('broker.yaml', 'Service');
    const set = only<StatefulSet>('broker.yaml', 'StatefulSet');
    expect(service.spec?.clusterIP).toBe('None');
    expect(set.spec?.serviceName).toBe(service.metadata?.name);
    const labels = set.spec?.template.metadata?.labels ?? {};
    expect(labels).toMatchObject(set.spec?.selector.matchLabels ?? { missing: 'selector' });
    expect(labels).toMatchObject(service.spec?.selector ?? { missing: 'selector' });
    const rabbit = set.spec?.template.spec?.containers[0] as Container;
    expect(rabbit.ports?.map((p) => p.name)).toContain(service.spec?.ports?.[0]?.targetPort);
    expect(rabbit.readinessProbe).toBeDefined();
    const claim = set.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
    expect(rabbit.volumeMounts?.find((v) => v.name === claim)?.mountPath).toBe('/var/lib/rabbitmq');
  });
});
