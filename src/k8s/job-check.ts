// The structure the API server requires of a batch/v1 Job, checked here so a bad template fails
// before publishing rather than at kubectl apply. Returns what is wrong, or undefined. namesAsWritten is
// false for an --expand template, whose Job names are made per item (src/k8s/job-names.ts).
export function checkJob(job: unknown, namesAsWritten = true): string | undefined {
  const j = job as Record<string, any>;
  if (!j || typeof j !== 'object') return 'the document is not a mapping';
  if (j.apiVersion !== 'batch/v1') return `apiVersion is ${JSON.stringify(j.apiVersion)}, not batch/v1`;
  if (typeof j.metadata?.name !== 'string' && typeof j.metadata?.generateName !== 'string') return 'metadata.name is missing';
  const nameProblem = namesAsWritten ? badName('metadata.name', j.metadata?.name) ?? badName('metadata.generateName', j.metadata?.generateName, true) : undefined;
  if (nameProblem) return nameProblem;
  const labelProblem = badLabels('metadata.labels', j.metadata?.labels) ?? badLabels('spec.template.metadata.labels', j.spec?.template?.metadata?.labels);
  if (labelProblem) return labelProblem;
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
    const containerProblem = badName(`containers[${i}].name`, c.name);
    if (containerProblem) return containerProblem;
    if (c.env !== undefined && !Array.isArray(c.env)) return `containers[${i}].env must be a list`;
  }
  return undefined;
}

// A Job's name becomes its pods' job-name label and a container's name is a DNS-1123 label: lower-case
// letters, digits and '-', at most 63, a letter or digit at both ends (a generateName prefix may end in '-').
function badName(field: string, value: unknown, prefix = false): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.replaceAll('$ITEM', 'x'); // a container named after its item, in an --expand template
  const ok = prefix ? /^[a-z0-9][-a-z0-9]*$/ : /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (ok.test(name) && name.length <= (prefix ? 58 : 63)) return undefined;
  return `${field} ${JSON.stringify(value)} is not a valid name: use lower-case letters, digits and '-', at most ${prefix ? 58 : 63} characters${prefix ? ', starting with a letter or digit' : ', a letter or digit at both ends'}`;
}

// A label value (--kueue-queue's too): at most 63 of letters, digits, '-', '_' and '.', alphanumeric at both ends, or empty.
function badLabels(field: string, labels: unknown): string | undefined {
  if (labels === undefined || labels === null) return undefined;
  if (typeof labels !== 'object') return `${field} must be a mapping`;
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== 'string') return `${field}.${key} must be a string (quote it)`;
    if (!/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(value.replaceAll('$ITEM', 'x'))) {
      return `${field}.${key} ${JSON.stringify(value)} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', a letter or digit at both ends`;
    }
  }
  return undefined;
}
