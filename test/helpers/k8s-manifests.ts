// The manifests under k8s/, loaded once, and what the tests read from them: the pods they run, the Job
// around each, and what each container runs (the image's ENTRYPOINT + CMD as docker/ defines them).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, PodSpec, PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job, JobSpec } from 'kubernetes-types/batch/v1.js';
import { expect } from 'vitest';
import { parseConsumeArgs } from '../../src/config/consume.js';
import { ROOT } from './cli.js';
import { imageConfig, parseDockerfile, type ImageConfig } from './dockerfile.js';
import type { ScaledJob } from './keda-types.js';
import { loadManifests, type Manifest } from './k8s-schema.js';

export const K8S = join(ROOT, 'k8s');
export const FILES = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(K8S, f));
export const ALL = FILES.flatMap((f) => loadManifests(f));
export const named = (file: string) => ALL.filter((m) => m.file === join(K8S, file));
export const ofKind = <T>(kind: string) => ALL.filter((m) => m.doc.kind === kind).map((m) => m.doc as unknown as T);
export const only = <T>(file: string, kind: string) => {
  const found = named(file).filter((m) => m.doc.kind === kind);
  expect(found, `${file} holds one ${kind}`).toHaveLength(1);
  return (found[0] as Manifest).doc as unknown as T;
};

/** The walk-through in docs/kubernetes.md. */
export const README = readFileSync(join(ROOT, 'docs/kubernetes.md'), 'utf8');
export const section = (title: string) => {
  const start = README.indexOf(`\n## ${title}\n`);
  expect(start, `docs/kubernetes.md has a "## ${title}" section`).toBeGreaterThan(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
};

// The images as the Dockerfiles define them (what a container runs, what files it holds).
export const WQ_IMAGE = imageConfig(parseDockerfile(readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8')));
export const EXAMPLE_DF = parseDockerfile(readFileSync(join(ROOT, 'docker/example/Dockerfile'), 'utf8'));
export const EXAMPLE_IMAGE = imageConfig(EXAMPLE_DF, WQ_IMAGE);
export const IMAGES: Record<string, ImageConfig> = { 'wq:latest': WQ_IMAGE, 'wq-example:latest': EXAMPLE_IMAGE };
export const filesIn = (image: ImageConfig) =>
  new Set(image.copies.flatMap((c) => (c.dest.endsWith('/') ? c.sources.map((s) => c.dest + s.slice(s.lastIndexOf('/') + 1)) : [c.dest])));

export interface Pod {
  where: string;
  template: PodTemplateSpec;
  spec: PodSpec;
  /** The Job spec around it, for Jobs and CronJobs. */
  job?: JobSpec;
}

export const pods: Pod[] = ALL.flatMap((m): Pod[] => {
  const where = `${m.file.replace(ROOT, '')} ${String(m.doc.kind)} ${String((m.doc.metadata as { name?: string }).name)}`;
  const of = (template: PodTemplateSpec | undefined, job?: JobSpec): Pod[] => (template?.spec ? [{ where, template, spec: template.spec, job }] : []);
  if (m.doc.kind === 'Job') return of((m.doc as unknown as Job).spec?.template, (m.doc as unknown as Job).spec);
  if (m.doc.kind === 'CronJob') {
    const job = (m.doc as unknown as CronJob).spec?.jobTemplate.spec;
    return of(job?.template, job);
  }
  if (m.doc.kind === 'ScaledJob') {
    const job = (m.doc as unknown as ScaledJob).spec.jobTargetRef;
    return of(job.template, job);
  }
  if (m.doc.kind === 'StatefulSet') return of((m.doc as unknown as StatefulSet).spec?.template);
  return [];
});
export const workloads = pods.filter((p) => p.job);
export const containersOf = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];
export const env = (c: Container, name: string) => c.env?.find((e) => e.name === name);

/** The argv a container runs: its command or the image's ENTRYPOINT, then its args or the image's CMD. */
export function argv(c: Container): string[] {
  const image = IMAGES[c.image ?? ''];
  if (!image) throw new Error(`image ${c.image} is not built from docker/ (known: ${Object.keys(IMAGES).join(', ')})`);
  const entrypoint = c.command ?? image.entrypoint?.exec ?? [];
  const cmd = c.args ?? (c.command ? [] : (image.cmd?.exec ?? []));
  return [...entrypoint, ...cmd];
}
export const WQ_CONSUME = WQ_IMAGE.entrypoint?.exec ?? [];
export const runsConsume = (c: Container) => argv(c).slice(0, WQ_CONSUME.length).join(' ') === WQ_CONSUME.join(' ');
/** wq-consume's own parse of a container's args, with the container's literal env. */
export function consumeConfig(c: Container) {
  const literal = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? 'amqp://from-secret']));
  const request = parseConsumeArgs(argv(c).slice(WQ_CONSUME.length), literal);
  if (request.kind !== 'run') throw new Error(`${c.name}: its args ask wq-consume for ${request.kind}, not a run`);
  return request.config;
}
