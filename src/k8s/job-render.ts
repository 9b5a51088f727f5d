import { isMap, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { UsageError } from '../errors.js';
import { checkJob } from './job-check.js';
import { applyJobFields, takes } from './job-fields.js';
import { findLeak } from './leaks.js';
import type { JobOptions } from '../config/publish.js';
import { readTemplate } from './template.js';

/*
 * wq-publish --job: the Job manifest for the queue just filled (docs/publish.md "--job").
 * - spec.completions = the queue's ready messages; spec.parallelism capped at completions;
 * - the worker container's env: QUEUE as a literal value; BROKER_URL from a Secret (valueFrom.secretKeyRef,
 *   the template's own reference kept, else --job-secret/--job-secret-key), or left to BROKER_URL_FILE
 *   when the template mounts the URL as a file, or to envFrom when the worker has it and no BROKER_URL entry;
 * - a literal URL is never written: a literal BROKER_URL or AMQP_URL is replaced or dropped, and a template
 *   that still holds a URL with a password anywhere is refused.
 * Everything else in the template, comments included, is written back as it was (a document with aliases
 * or merge keys is written resolved, without its comments: template.ts).
 */

export interface JobTemplate {
  path: string;
  docs: Document[];
  /** The Job document. */
  job: Document;
  /** Index of the worker container in spec.template.spec.containers. */
  container: number;
  options: JobOptions;
}

export interface RenderedJob {
  manifest: string;
  name: string;
  completions: number;
  parallelism: number;
  /** What was changed beyond completions and QUEUE, for the log. */
  notes: string[];
}

// Read and check the template before anything is published, so a bad template costs nothing:
// a trial render on a copy surfaces a leaked password now rather than after publishing.
export function loadJobTemplate(options: JobOptions, queue: string): JobTemplate {
  const path = options.template;
  const { docs } = readTemplate(path, '--job');
  if (docs.length === 0) throw new UsageError(`--job template ${path} is empty: it should hold a batch/v1 Job.`);
  const jobs = docs.filter((d) => d.get('kind') === 'Job');
  if (jobs.length !== 1) throw new UsageError(`--job template ${path} must hold exactly one Job (kind: Job); it holds ${jobs.length}.`);
  const job = jobs[0] as Document;
  const problem = checkJob(job.toJS());
  if (problem) throw new UsageError(`--job template ${path} is not a usable batch/v1 Job: ${problem}.`);
  const containers = job.toJS().spec.template.spec.containers as Array<{ name: string }>;
  const container = options.container === undefined ? 0 : containers.findIndex((c) => c.name === options.container);
  if (container === -1) throw new UsageError(`--job-container ${options.container}: the template has no such container (it has ${containers.map((c) => c.name).join(', ')}).`);
  const worker = takes((job.getIn(['spec', 'template', 'spec', 'containers']) as YAMLSeq).items[container] as YAMLMap);
  if (worker.drains) {
    throw new UsageError(`--job template ${path} runs wq-consume --until-empty (a drain Job), which takes no completions: apply it as it is (kubectl apply -f ${path}) once the queue is filled.`);
  }
  if (worker.count !== undefined && worker.count !== 1) {
    throw new UsageError(`--job template ${path} runs wq-consume --count ${worker.count}, but completions counts one message per pod: the pods past the messages would wait for ones that never come. Use --count 1 (the default) there, or a drain Job (--until-empty) applied as it is.`);
  }
  const template: JobTemplate = { path, docs, job, container, options };
  const copies = docs.map((d) => d.clone());
  renderJob({ ...template, docs: copies, job: copies[(docs as Document[]).indexOf(job)] as Document }, queue, 1);
  return template;
}

/** The manifest with completions set and the queue and broker wired. */
export function renderJob(t: JobTemplate, queue: string, completions: number): RenderedJob {
  const { job, options } = t;
  const notes: string[] = [];
  job.setIn(['spec', 'completions'], completions);
  const templateParallelism = job.getIn(['spec', 'parallelism']);
  let parallelism = typeof templateParallelism === 'number' ? templateParallelism : 1;
  if (parallelism > completions) {
    notes.push(`parallelism ${parallelism} capped at completions ${completions}`);
    parallelism = completions;
    job.setIn(['spec', 'parallelism'], parallelism);
  }
  const container = (job.getIn(['spec', 'template', 'spec', 'containers']) as YAMLSeq).items[t.container] as YAMLMap;
  wireEnv(job, container, queue, options, notes);
  applyJobFields(job, container, options, notes);

  const manifest = t.docs
    .map((d, i) => {
      const text = d.toString();
      return i === 0 || text.startsWith('---') ? text : `---\n${text}`;
    })
    .join('');
  const leak = findLeak(t.docs, manifest);
  if (leak) {
    throw new UsageError(`--job template ${t.path} holds a broker URL with a password (${leak}...): put the URL in a Secret and reference it (valueFrom.secretKeyRef); nothing was written.`);
  }
  return { manifest, name: String(job.getIn(['metadata', 'name']) ?? job.getIn(['metadata', 'generateName'])), completions, parallelism, notes };
}

function wireEnv(doc: Document, container: YAMLMap, queue: string, options: JobOptions, notes: string[]): void {
  let env = container.get('env');
  if (!isSeq(env)) {
    env = doc.createNode([]);
    container.set('env', env);
  }
  const list = env as YAMLSeq;
  const find = (name: string) => list.items.find((item): item is YAMLMap => isMap(item) && item.get('name') === name);
  const fromSecret = (entry: YAMLMap | undefined) => isMap(entry?.get('valueFrom')) && isMap((entry?.get('valueFrom') as YAMLMap).get('secretKeyRef'));
  const secretRef = () => doc.createNode({ secretKeyRef: { name: options.secretName, key: options.secretKey } });

  const queueEntry = find('QUEUE');
  if (queueEntry) {
    queueEntry.delete('valueFrom');
    queueEntry.set('value', queue);
  } else {
    list.add(doc.createNode({ name: 'QUEUE', value: queue }));
  }

  const url = find('BROKER_URL');
  if (url && !fromSecret(url)) {
    url.delete('value');
    url.set('valueFrom', secretRef());
    notes.push(`BROKER_URL was not from a Secret: now from secret ${options.secretName} key ${options.secretKey}`);
  } else if (!url && !find('BROKER_URL_FILE')) {
    // An env entry would win over the Secret the template's envFrom lists, which may hold the URL.
    if (fromEnvFromSecret(container)) notes.push('the worker has envFrom with a Secret and no BROKER_URL entry: BROKER_URL is left to envFrom (that Secret must hold it)');
    else list.add(doc.createNode({ name: 'BROKER_URL', valueFrom: secretRef() }));
  }
  const amqpUrl = find('AMQP_URL');
  if (amqpUrl && !fromSecret(amqpUrl)) {
    list.delete(list.items.indexOf(amqpUrl));
    notes.push('dropped AMQP_URL: it was not from a Secret (BROKER_URL takes precedence anyway)');
  }
}

/** The container's envFrom lists a Secret (a broker URL belongs in one, never in a ConfigMap). */
function fromEnvFromSecret(container: YAMLMap): boolean {
  const envFrom = container.get('envFrom');
  return isSeq(envFrom) && envFrom.items.some((item) => isMap(item) && item.has('secretRef'));
}
