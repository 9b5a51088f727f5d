import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { UsageError } from '../../src/errors.js';
import { loadJobTemplate, renderJob } from '../../src/k8s/job-render.js';
import { admin, brokerUrl, freshQueue, publish, queueExists, queueState, readyCount, uniqueQueue } from '../helpers/broker.js';
import { execa } from 'execa';
import { cli, DIST, errors, FIXTURE, NODE, toRun } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/files.js';
import { jobProblems } from '../helpers/k8s-schema.js';

const TEMPLATE = FIXTURE('job-template.yaml');
const PASSWORD_URL = /amqps?:\/\/[^\s@/]*:[^\s@/]+@/;

const container = (job: Job) => job.spec?.template?.spec?.containers[0];
const env = (job: Job) => Object.fromEntries((container(job)?.env ?? []).map((e) => [e.name, e.valueFrom ?? e.value]));

function template(text: string): string {
  const path = join(tempDir(), 'job.yaml');
  writeFileSync(path, text);
  return path;
}

const tutorial = readFileSync(TEMPLATE, 'utf8');
const jobOptions = (path: string, more: { container?: string; secretName?: string; secretKey?: string } = {}) => ({ template: path, secretName: 'wq-broker', secretKey: 'url', ...more });

describe('wq-publish --job renders the Job for the queue it filled', () => {
  it('renders k8s/job.yaml, the shipped template, into a valid batch/v1 Job', async () => {
    const queue = uniqueQueue('job-shipped');
    const run = await cli('wq-publish', ['-q', queue, '--job', 'k8s/job.yaml', 'a', 'b', 'c']);
    expect(run.exitCode).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
    const job = parse(run.stdout) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(job.spec).toMatchObject({ completions: 3, parallelism: 2 });
    expect(env(job)).toEqual({ BROKER_URL: { secretKeyRef: { name: 'wq-broker', key: 'url' } }, QUEUE: queue });
    expect(run.stdout).not.toMatch(PASSWORD_URL);
  });

  it('completions = the queue depth, a valid batch/v1 Job on stdout, BROKER_URL from the Secret, QUEUE wired', async () => {
    const queue = uniqueQueue('job');
    const run = await cli('wq-publish', ['-q', queue, '--job', TEMPLATE, 'a', 'b', 'c', 'd', 'e']);
    expect(run.exitCode).toBe(0);
    const state = await queueState(queue);
    expect(state).toEqual({ ready: 5, unacked: 0, consumers: 0 });
    const job = parse(run.stdout) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(job.spec?.completions).toBe(state.ready);
    expect(job.spec?.parallelism).toBe(2);
    expect(job.metadata?.name).toBe('job-wq-1');
    expect(env(job)).toEqual({ BROKER_URL: { secretKeyRef: { name: 'wq-broker', key: 'url' } }, QUEUE: queue });
    expect(run.stdout).not.toMatch(PASSWORD_URL);
    expect(run.stdout).not.toContain(brokerUrl());
    expect(run.stdout.startsWith('# Shaped like the Kubernetes')).toBe(true); // comments kept
    // stdout is the manifest alone; the status went to stderr.
    expect(run.logs.at(-1)?.msg).toBe('wrote Job job-wq-1: completions 5, parallelism 2');
  });

  it('caps parallelism at completions', async () => {
    const queue = uniqueQueue('job-cap');
    const run = await cli('wq-publish', ['-q', queue, '--job', TEMPLATE, 'only']);
    expect(run.exitCode).toBe(0);
    const job = parse(run.stdout) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(job.spec).toMatchObject({ completions: 1, parallelism: 1 });
    expect(run.logs.some((l) => l.msg === 'parallelism 2 capped at completions 1')).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('with no items and no stdin, takes completions from the current depth', async () => {
    const queue = await freshQueue('job-depth');
    await publish(queue, ['x', 'y', 'z']);
    const run = await cli('wq-publish', ['-q', queue, '--job', TEMPLATE]);
    expect(run.exitCode).toBe(0);
    expect((parse(run.stdout) as Job).spec?.completions).toBe(3);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  });

  it('the queue deleted while it publishes: exit 78 and no manifest (it was exit 0 with nothing on stdout)', async () => {
    const queue = await freshQueue('job-deleted');
    const child = execa(NODE, [DIST('wq-publish'), '--url', brokerUrl(), '-q', queue, '--job', TEMPLATE, '--no-progress'], { reject: false, stdin: 'pipe' });
    child.stdin?.write('a\n');
    await waitFor(async () => (await readyCount(queue)) === 1, 'the first item in the queue');
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    child.stdin?.end('b\n');
    const run = toRun(await child);
    expect(run.exitCode).toBe(78);
    expect(run.stdout).toBe('');
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringMatching(/^queue "[^"]+" was deleted while wq-publish published to it \(404 NOT_FOUND\): the message confirmed to it went with it.*Publish the whole input again/)]);
    expect(await queueExists(queue)).toBe(false);
  });

  it('an empty queue: exit 75 and no manifest', async () => {
    const queue = await freshQueue('job-empty');
    const run = await cli('wq-publish', ['-q', queue, '--job', TEMPLATE]);
    expect(run.exitCode).toBe(75);
    expect(run.stdout).toBe('');
    expect(errors(run)[0]?.msg).toMatch(/holds no ready messages.*no manifest was written/);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a template that is not a usable Job: exit 64 before anything is published', async () => {
    const queue = uniqueQueue('job-bad');
    const always = template(tutorial.replace('restartPolicy: OnFailure', 'restartPolicy: Always'));
    const run = await cli('wq-publish', ['-q', queue, '--job', always, 'a']);
    expect(run.exitCode).toBe(64);
    expect(errors(run)[0]?.msg).toMatch(/not a usable batch\/v1 Job: spec.template.spec.restartPolicy must be OnFailure or Never/);
    const deployment = template(tutorial.replace('kind: Job', 'kind: Deployment'));
    expect((await cli('wq-publish', ['-q', queue, '--job', deployment, 'a'])).exitCode).toBe(64);
    expect((await cli('wq-publish', ['-q', queue, '--job', '/nonexistent/job.yaml', 'a'])).exitCode).toBe(64);
    // A drain Job's pods each take messages until the queue is empty: completions = the depth would start a pod per message.
    const drain = await cli('wq-publish', ['-q', queue, '--job', 'k8s/drain-job.yaml', 'a']);
    expect(drain.exitCode).toBe(64);
    expect(errors(drain).map((l) => l.msg)).toEqual(['--job template k8s/drain-job.yaml runs wq-consume --until-empty (a drain Job), which takes no completions: apply it as it is (kubectl apply -f k8s/drain-job.yaml) once the queue is filled.']);
    expect(await queueExists(queue)).toBe(false);
  });

  it('a name or label the API server would refuse: exit 64 with the field, before anything is published', async () => {
    const queue = uniqueQueue('job-names');
    const cases: Array<[string, string[], RegExp]> = [
      [tutorial.replace('name: job-wq-1', 'name: Job_WQ'), [], /metadata.name "Job_WQ" is not a valid name/],
      [tutorial.replace('name: job-wq-1', `name: ${'a'.repeat(64)}`), [], /metadata.name "a{64}" is not a valid name: .*at most 63/],
      [tutorial.replace(/- name: c\b/, '- name: Worker'), [], /containers\[0\].name "Worker" is not a valid name/],
      [tutorial.replace('name: job-wq-1', 'name: job-wq-1\n  labels:\n    tier: "a b"'), [], /metadata.labels.tier "a b" is not a valid label value/],
      [tutorial, ['--kueue-queue', 'Team_A'], /--kueue-queue "Team_A" is not a LocalQueue name/],
      [tutorial, ['--job-secret', 'Bad_Name'], /^--job-secret "Bad_Name" is not a Secret name/],
      [tutorial, ['--job-secret-key', 'a/b c'], /^--job-secret-key "a\/b c" is not a key in a Secret/],
      // A URL given where the Secret's name goes: refused, and never echoed.
      [tutorial, ['--job-secret', 'amqp://u:Pw-123@rabbit'], /^--job-secret that value is not a Secret name.* not the URL itself\.$/],
    ];
    for (const [text, flags, message] of cases) {
      if (flags.length === 0) expect(text).not.toBe(tutorial); // the replacement found its line
      const path = template(text);
      const run = await cli('wq-publish', ['-q', queue, '--job', path, ...flags, 'a']);
      expect(run.exitCode).toBe(64);
      expect(errors(run)[0]?.msg).toMatch(message);
    }
    expect(await queueExists(queue)).toBe(false);
  });

  it('never writes a literal password: a literal BROKER_URL becomes a secretKeyRef; a password elsewhere is refused before publishing', async () => {
    const literal = template(tutorial.replace(/- name: BROKER_URL\n(\s+)valueFrom:\n\s+secretKeyRef:\n\s+name: wq-broker\n\s+key: url/, '- name: BROKER_URL\n$1value: amqp://app:s3cret@rabbitmq:5672'));
    expect(readFileSync(literal, 'utf8')).toContain('s3cret');
    const queue = uniqueQueue('job-literal');
    const run = await cli('wq-publish', ['-q', queue, '--job', literal, 'a']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain('s3cret');
    expect(env(parse(run.stdout) as Job).BROKER_URL).toEqual({ secretKeyRef: { name: 'wq-broker', key: 'url' } });
    expect(run.logs.some((l) => l.level === 40 && /BROKER_URL was not from a Secret/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });

    const inArgs = template(tutorial.replace('image: wq-example', 'image: wq-example\n          args: ["--url", "amqp://app:s3cret@rabbitmq:5672"]'));
    const refused = uniqueQueue('job-leak');
    const leak = await cli('wq-publish', ['-q', refused, '--job', inArgs, 'a']);
    expect(leak.exitCode).toBe(64);
    expect(leak.stdout).toBe('');
    expect(leak.stderr).not.toContain('s3cret');
    expect(errors(leak)[0]?.msg).toMatch(/holds a broker URL with a password \(amqp:\/\/app:\*\*\*@/);
    expect(await queueExists(refused)).toBe(false);

    // A Secret beside the Job with the URL in base64 (data:) was written out as it is.
    const encoded = Buffer.from('amqp://app:s3cret@rabbitmq:5672').toString('base64');
    const withSecret = template(`${tutorial}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: wq-broker\ndata:\n  url: ${encoded}\n`);
    const secret = await cli('wq-publish', ['-q', refused, '--job', withSecret, 'a']);
    expect(secret.exitCode).toBe(64);
    expect(secret.stdout).toBe('');
    expect(`${secret.stderr}`).not.toContain('s3cret');
    expect(errors(secret)[0]?.msg).toMatch(/holds a broker URL with a password \(amqp:\/\/app:\*\*\*@/);
    expect(await queueExists(refused)).toBe(false);

    // The same behind a YAML !!binary tag (parsed to bytes, not text): it was written out, exit 0.
    const binary = template(`${tutorial}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: wq-broker\nstringData:\n  url: !!binary ${encoded}\n`);
    const tagged = await cli('wq-publish', ['-q', refused, '--job', binary, 'a']);
    expect(tagged.exitCode).toBe(64);
    expect(tagged.stdout).toBe('');
    expect(`${tagged.stderr}`).not.toContain('s3cret');
    expect(errors(tagged)[0]?.msg).toMatch(/holds a broker URL with a password \(amqp:\/\/app:\*\*\*@/);
    expect(await queueExists(refused)).toBe(false);
    // And in a Secret's data: (base64) behind the tag: base64 twice.
    const twice = template(`${tutorial}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: wq-broker\ndata:\n  url: !!binary ${Buffer.from(encoded).toString('base64')}\n`);
    const data = await cli('wq-publish', ['-q', refused, '--job', twice, 'a']);
    expect(data.exitCode).toBe(64);
    expect(data.stdout).toBe('');
    expect(await queueExists(refused)).toBe(false);
  });

  it('refuses a password with a quote in it, or written with a YAML escape, before publishing', async () => {
    const cases = [
      `args: ["--url", "amqp://app:pa'ssword9@rabbitmq:5672/"]`,
      `args: ['--url', 'amqp://app:pa"ssword9@rabbitmq:5672/']`,
      `args: ["--url", "amqp://app:pa\\x73sword9@rabbitmq:5672/"]`,
      `args: ["sh", "-c", "wq-consume --url 'amqp://app:pa@ssword9@rabbitmq' -- w"]`,
    ];
    for (const args of cases) {
      const path = template(tutorial.replace('image: wq-example', `image: wq-example\n          ${args}`));
      const refused = uniqueQueue('job-leak-quote');
      const leak = await cli('wq-publish', ['-q', refused, '--job', path, 'a']);
      expect(leak.exitCode, args).toBe(64);
      expect(leak.stdout).toBe('');
      expect(leak.stderr).not.toMatch(/ssword9/);
      expect(errors(leak)[0]?.msg).toMatch(/holds a broker URL with a password \(amqp:\/\/app:\*\*\*@\.\.\.\)/);
      expect(await queueExists(refused)).toBe(false);
    }
  });
});

describe('renderJob (no broker)', () => {
  it('adds QUEUE and BROKER_URL to a container without env, with the Secret given', () => {
    const path = template(tutorial.replace(/\n\s+env:[\s\S]*?value: job1/, ''));
    const t = loadJobTemplate(jobOptions(path, { secretName: 'rabbit', secretKey: 'amqp-url' }), 'work');
    const job = parse(renderJob(t, 'work', 12).manifest) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(job.spec).toMatchObject({ completions: 12, parallelism: 2 });
    expect(env(job)).toEqual({ QUEUE: 'work', BROKER_URL: { secretKeyRef: { name: 'rabbit', key: 'amqp-url' } } });
  });

  it('leaves the URL to BROKER_URL_FILE when the template mounts it as a file, and drops a literal AMQP_URL', () => {
    const path = template(
      tutorial.replace(
        /- name: BROKER_URL\n\s+valueFrom:\n\s+secretKeyRef:\n\s+name: wq-broker\n\s+key: url/,
        '- name: BROKER_URL_FILE\n              value: /etc/wq/url\n            - name: AMQP_URL\n              value: amqp://guest:guest@old:5672',
      ),
    );
    const r = renderJob(loadJobTemplate(jobOptions(path), 'q1'), 'q1', 4);
    const job = parse(r.manifest) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(env(job)).toEqual({ BROKER_URL_FILE: '/etc/wq/url', QUEUE: 'q1' });
    expect(r.manifest).not.toMatch(PASSWORD_URL);
    expect(r.notes).toEqual([expect.stringMatching(/dropped AMQP_URL/)]);
  });

  // The worker's env was an alias of the init container's: it was replaced by QUEUE and BROKER_URL alone.
  // An alias with no anchor was exit 70, "internal error"; a merge key, "containers[0] needs a name and an image".
  it('aliases and merge keys are read as Kubernetes reads them; an alias with no anchor is a usage error', () => {
    const aliased = template(`apiVersion: batch/v1
kind: Job
metadata: {name: aliased}
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - &base
          name: init
          image: busybox
          env: &common
            - {name: FOO, value: bar}
      containers:
        - <<: *base
          name: worker
          image: wq:latest
          env: *common
`);
    const job = parse(renderJob(loadJobTemplate(jobOptions(aliased), 'qa'), 'qa', 3).manifest) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(env(job)).toEqual({ FOO: 'bar', QUEUE: 'qa', BROKER_URL: { secretKeyRef: { name: 'wq-broker', key: 'url' } } });
    expect(container(job)).toMatchObject({ name: 'worker', image: 'wq:latest' });
    expect(job.spec?.template?.spec?.initContainers?.[0]?.env).toEqual([{ name: 'FOO', value: 'bar' }]);
    // A plain alias, an inline merge key, and the worker holding the anchor: nothing wired into one
    // container reaches another through an alias; a quoted "yes" stays a string, 0644 stays octal.
    const plain = template(`apiVersion: batch/v1
kind: Job
metadata: {name: plain}
spec:
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: cfg, configMap: {name: cfg, defaultMode: 0644}}]
      initContainers:
        - name: init
          image: busybox
          env: &common
            - {name: FOO, value: "yes"}
      containers:
        - name: worker
          image: wq:latest
          env: *common
        - <<: {image: busybox}
          name: side
          env: *common
`);
    const r = renderJob(loadJobTemplate(jobOptions(plain), 'qp'), 'qp', 2);
    expect(r.manifest).not.toMatch(/[&*]\w/);
    expect(r.manifest).toMatch(/defaultMode: 420\b|defaultMode: 0644\b/);
    const wired = parse(r.manifest) as Job;
    expect(jobProblems(wired)).toEqual([]);
    expect(env(wired)).toEqual({ FOO: 'yes', QUEUE: 'qp', BROKER_URL: { secretKeyRef: { name: 'wq-broker', key: 'url' } } });
    expect(wired.spec?.template?.spec?.containers[1]).toEqual({ name: 'side', image: 'busybox', env: [{ name: 'FOO', value: 'yes' }] });
    expect(wired.spec?.template?.spec?.initContainers?.[0]?.env).toEqual([{ name: 'FOO', value: 'yes' }]);
    const dangling = template('apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {template: {spec: {restartPolicy: Never, containers: [*x]}}}\n');
    expect(() => loadJobTemplate(jobOptions(dangling), 'qa')).toThrow(UsageError);
    expect(() => loadJobTemplate(jobOptions(dangling), 'qa')).toThrow(/Unresolved alias.*: x \(an alias names an anchor this document does not define\)/);
  });

  // YAML 1.2 read 0644 as 644 and wrote it so: a mode Kubernetes reads as decimal 644, which it refuses.
  it('reads and writes the template as Kubernetes does (YAML 1.1): an octal mode stays octal, a quoted "on" a string', () => {
    const path = template(tutorial.replace('      restartPolicy: OnFailure', '      restartPolicy: OnFailure\n      volumes: [{name: cfg, configMap: {name: cfg, defaultMode: 0644}}]').replace('value: job1', 'value: job1\n            - name: FLAG\n              value: "on"'));
    const r = renderJob(loadJobTemplate(jobOptions(path), 'on'), 'on', 2);
    expect(r.manifest).toContain('defaultMode: 0644');
    const job = parseAllDocuments(r.manifest, { version: '1.1' })[0]?.toJS() as Job;
    expect(job.spec?.template?.spec?.volumes?.[0]?.configMap?.defaultMode).toBe(0o644);
    expect(env(job)).toMatchObject({ FLAG: 'on', QUEUE: 'on' });
  });

  // The env entry wq added won over envFrom: pods read another Secret, or none that exists.
  it('leaves BROKER_URL to envFrom when the worker has it and names no BROKER_URL, with a note', () => {
    const path = template(tutorial.replace(/\n\s+env:[\s\S]*?value: job1/, '\n          envFrom:\n            - secretRef: {name: my-broker}'));
    const r = renderJob(loadJobTemplate(jobOptions(path), 'qe'), 'qe', 2);
    const job = parse(r.manifest) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(env(job)).toEqual({ QUEUE: 'qe' });
    expect(container(job)?.envFrom).toEqual([{ secretRef: { name: 'my-broker' } }]);
    expect(r.notes).toEqual([expect.stringMatching(/BROKER_URL is left to envFrom/)]);
    // A ConfigMap holds no password: the URL still comes from the Secret.
    const configMap = template(tutorial.replace(/\n\s+env:[\s\S]*?value: job1/, '\n          envFrom:\n            - configMapRef: {name: settings}'));
    expect(env(parse(renderJob(loadJobTemplate(jobOptions(configMap), 'qe'), 'qe', 2).manifest) as Job)).toEqual({ QUEUE: 'qe', BROKER_URL: { secretKeyRef: { name: 'wq-broker', key: 'url' } } });
  });

  // completions = messages with 2 per pod: the pods past the messages waited until their deadline.
  // A worker run as command: ["wq-consume", ...] had no drain check and no pod deadline.
  it("reads the worker's wq-consume flags from command too, and refuses --count other than 1", () => {
    const withWorker = (line: string) => template(tutorial.replace('          image: wq-example\n', `          image: wq-example\n          ${line}\n`));
    expect(() => loadJobTemplate(jobOptions(withWorker('args: ["-c", "2", "--", "/app/w.sh"]')), 'qc')).toThrow(/runs wq-consume --count 2, but completions counts one message per pod/);
    expect(() => loadJobTemplate(jobOptions(withWorker('command: ["wq-consume", "--until-empty", "--", "/app/w.sh"]')), 'qc')).toThrow(/runs wq-consume --until-empty \(a drain Job\)/);
    expect(() => loadJobTemplate(jobOptions(withWorker('command: ["/usr/bin/tini", "--", "/usr/local/bin/wq-consume"]\n          args: ["-c", "3", "--", "w"]')), 'qc')).toThrow(/--count 3/);
    const timed = renderJob(loadJobTemplate(jobOptions(withWorker('command: ["wq-consume", "--timeout", "600", "--", "/app/w.sh"]')), 'qc'), 'qc', 2);
    expect((parse(timed.manifest) as Job).spec?.template?.spec?.activeDeadlineSeconds).toBe(600 + 20 + 120);
    // Another program's args are not wq-consume's; nor are the worker's own flags after --.
    expect(loadJobTemplate(jobOptions(withWorker('command: ["python", "worker.py"]\n          args: ["-c", "4"]')), 'qc').container).toBe(0);
    const own = renderJob(loadJobTemplate(jobOptions(withWorker('command: ["wq-consume", "--", "/app/w.sh", "-c", "5"]')), 'qc'), 'qc', 2);
    expect((parse(own.manifest) as Job).spec?.completions).toBe(2);
  });

  it('wires the container --job-container names, and keeps the other documents of the file', () => {
    const twoContainers = tutorial.replace('      containers:\n', '      containers:\n        - name: sidecar\n          image: busybox\n');
    const path = template(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  a: b\n---\n${twoContainers}`);
    const r = renderJob(loadJobTemplate(jobOptions(path, { container: 'c' }), 'q2'), 'q2', 9);
    const docs = parseAllDocuments(r.manifest) as Array<{ toJS(): unknown }>;
    expect(docs).toHaveLength(2);
    expect(docs[0]?.toJS()).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes' }, data: { a: 'b' } });
    const job = docs[1]?.toJS() as Job;
    expect(jobProblems(job)).toEqual([]);
    const [sidecar, worker] = job.spec?.template?.spec?.containers ?? [];
    expect(sidecar?.env).toBeUndefined();
    expect(worker?.env?.find((e) => e.name === 'QUEUE')?.value).toBe('q2');
    expect(() => loadJobTemplate(jobOptions(path, { container: 'nope' }), 'q2')).toThrow(/no such container \(it has sidecar, c\)/);
  });
});
