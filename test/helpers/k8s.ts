import { readFileSync } from 'node:fs';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { ROOT } from './cli.js';

// Is this a valid batch/v1 Job? Without a cluster, check it against the Kubernetes 1.30 API types that
// kubernetes-types ships (.d.ts): every field along the path a work-queue Job uses must be a known field
// of the right type, required fields present; plus the rules the API server adds for Jobs
// (restartPolicy OnFailure or Never, at least one container, non-negative counts).

type Field = { optional: boolean; type: string };
const cache = new Map<string, Map<string, Field>>();

/** The fields of `export interface NAME` in kubernetes-types/FILE.d.ts. */
function fieldsOf(file: string, name: string): Map<string, Field> {
  const id = `${file}#${name}`;
  const hit = cache.get(id);
  if (hit) return hit;
  const text = readFileSync(`${ROOT}node_modules/kubernetes-types/${file}.d.ts`, 'utf8');
  const start = text.indexOf(`export interface ${name} {`);
  if (start === -1) throw new Error(`kubernetes-types/${file}: no interface ${name}`);
  const body = text.slice(start, text.indexOf('\n}', start));
  const fields = new Map<string, Field>();
  for (const m of body.matchAll(/^ {4}(\w+)(\?)?: (.+);$/gm)) fields.set(m[1] as string, { optional: m[2] === '?', type: m[3] as string });
  cache.set(id, fields);
  return fields;
}

// Which interface each nested field of a work-queue Job is, so the walk can go down.
const NESTED: Record<string, Record<string, [string, string]>> = {
  'batch/v1#Job': { metadata: ['meta/v1', 'ObjectMeta'], spec: ['batch/v1', 'JobSpec'] },
  'batch/v1#JobSpec': { template: ['core/v1', 'PodTemplateSpec'] },
  'core/v1#PodTemplateSpec': { metadata: ['meta/v1', 'ObjectMeta'], spec: ['core/v1', 'PodSpec'] },
  'core/v1#PodSpec': { containers: ['core/v1', 'Container'] },
  'core/v1#Container': { env: ['core/v1', 'EnvVar'] },
  'core/v1#EnvVar': { valueFrom: ['core/v1', 'EnvVarSource'] },
  'core/v1#EnvVarSource': { secretKeyRef: ['core/v1', 'SecretKeySelector'] },
};

function walk(value: unknown, file: string, name: string, path: string, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: expected an object (${name})`);
    return;
  }
  const fields = fieldsOf(file, name);
  const obj = value as Record<string, unknown>;
  for (const [key, f] of fields) if (!f.optional && obj[key] === undefined) problems.push(`${path}.${key}: required`);
  for (const [key, v] of Object.entries(obj)) {
    const f = fields.get(key);
    if (!f) {
      problems.push(`${path}.${key}: unknown field of ${name}`);
      continue;
    }
    const nested = NESTED[`${file}#${name}`]?.[key];
    const element = /^Array<(.+)>$/.exec(f.type)?.[1] ?? (f.type.endsWith('[]') ? f.type.slice(0, -2) : undefined);
    const isArray = element !== undefined;
    const items = isArray ? (Array.isArray(v) ? v : (problems.push(`${path}.${key}: expected a list`), [])) : [v];
    items.forEach((item, i) => {
      const at = isArray ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (nested) return walk(item, nested[0], nested[1], at, problems);
      const t = element ?? f.type;
      if (t === 'string' && typeof item !== 'string') problems.push(`${at}: expected a string`);
      else if (t === 'number' && !Number.isInteger(item)) problems.push(`${at}: expected an integer`);
      else if (t === 'boolean' && typeof item !== 'boolean') problems.push(`${at}: expected a boolean`);
      else if (/^"/.test(t) && !t.split(' | ').includes(JSON.stringify(item))) problems.push(`${at}: expected ${t}`);
    });
  }
}

/** Everything that keeps `value` from being a valid batch/v1 Job; empty when it is one. */
export function batchV1JobProblems(value: unknown): string[] {
  const problems: string[] = [];
  walk(value, 'batch/v1', 'Job', 'Job', problems);
  const job = value as Job;
  if (job?.apiVersion !== 'batch/v1') problems.push('apiVersion: must be batch/v1');
  if (job?.kind !== 'Job') problems.push('kind: must be Job');
  if (!job?.metadata?.name && !job?.metadata?.generateName) problems.push('metadata.name: required');
  const pod = job?.spec?.template?.spec;
  if (!pod) problems.push('spec.template.spec: required');
  else {
    if (pod.restartPolicy !== 'OnFailure' && pod.restartPolicy !== 'Never') problems.push('spec.template.spec.restartPolicy: must be OnFailure or Never for a Job');
    if (pod.containers.length === 0) problems.push('spec.template.spec.containers: at least one');
    for (const c of pod.containers) for (const e of c.env ?? []) if (e.value !== undefined && e.valueFrom !== undefined) problems.push(`env ${e.name}: value and valueFrom both set`);
  }
  for (const key of ['completions', 'parallelism', 'backoffLimit'] as const) {
    const n = job?.spec?.[key];
    if (n !== undefined && n < 0) problems.push(`spec.${key}: must be >= 0`);
  }
  return problems;
}
