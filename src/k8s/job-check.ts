// The structure the API server requires of a batch/v1 Job, checked here so a bad template fails
// before publishing rather than at kubectl apply. Returns what is wrong, or undefined.
export function checkJob(job: unknown): string | undefined {
  const j = job as Record<string, any>;
  if (!j || typeof j !== 'object') return 'the document is not a mapping';
  if (j.apiVersion !== 'batch/v1') return `apiVersion is ${JSON.stringify(j.apiVersion)}, not batch/v1`;
  if (typeof j.metadata?.name !== 'string' && typeof j.metadata?.generateName !== 'string') return 'metadata.name is missing';
  for (const key of ['completions', 'parallelism', 'backoffLimit'] as const) {
    const v = j.spec?.[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) return `spec.${key} must be a whole number >= 0`;
  }
  const pod = j.spec?.template?.spec;
  if (!pod || typeof pod !== 'object') return 'spec.template.spec (the pod) is missing';
  if (pod.restartPolicy !== 'OnFailure' && pod.restartPolicy !== 'Never') return 'spec.template.spec.restartPolicy must be OnFailure or Never for a Job';
  if (!Array.isArray(pod.containers) || pod.containers.length === 0) return 'spec.template.spec.containers is empty';
  for (const [i, c] of pod.containers.entries()) {
    if (typeof c?.name !== 'string' || typeof c?.image !== 'string') return `containers[${i}] needs a name and an image`;
    if (c.env !== undefined && !Array.isArray(c.env)) return `containers[${i}].env must be a list`;
  }
  return undefined;
}
