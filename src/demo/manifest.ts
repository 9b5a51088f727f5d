import { parse } from 'yaml';
import type { JobSpec } from './job-controller.js';

/** Secrets the stand-in knows, as Kubernetes would mount them: name -> key -> value. */
export type Secrets = Record<string, Record<string, string>>;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

// What the stand-in takes from a rendered Job manifest (wq-publish --job): the Job's counts and the
// worker container's image and environment, with secretKeyRef values looked up in `secrets` the way the kubelet
// would (a missing Secret is an error, like Kubernetes' CreateContainerConfigError).
export function jobFromManifest(manifest: string, secrets: Secrets): { spec: JobSpec; env: Record<string, string>; image: string } {
  const job = parse(manifest) as {
    metadata: { name: string };
    spec: { completions?: number; parallelism?: number; backoffLimit?: number; template: { spec: { containers: Array<{ image?: string; env?: EnvVar[] }> } } };
  };
  const env: Record<string, string> = {};
  for (const v of job.spec.template.spec.containers[0]?.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    const ref = v.valueFrom?.secretKeyRef;
    if (ref) {
      const value = secrets[ref.name]?.[ref.key];
      if (value === undefined) throw new Error(`CreateContainerConfigError: secret "${ref.name}" has no key "${ref.key}" (env ${v.name})`);
      env[v.name] = value;
    }
  }
  return {
    spec: {
      name: job.metadata.name,
      completions: job.spec.completions ?? 1,
      parallelism: job.spec.parallelism ?? 1,
      backoffLimit: job.spec.backoffLimit,
    },
    env,
    image: job.spec.template.spec.containers[0]?.image ?? '',
  };
}
