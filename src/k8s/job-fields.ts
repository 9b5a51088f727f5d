import { isMap, isSeq, type Document, type YAMLMap } from 'yaml';
import type { JobOptions } from '../config/publish.js';
import { parseArgv, type ParsedValues } from '../config/args.js';
import { CONSUME_OPTIONS } from '../config/consume.js';
import { DEFAULTS } from '../config/defaults.js';

/*
 * The Job fields of current Kubernetes that wq-publish --job and --expand write (docs/publish.md "--job"):
 * - spec.podReplacementPolicy: Failed: a replacement pod only once the old one has failed, not while it
 *   terminates: a terminating wq pod still holds its message until --grace ends. (Implied by a
 *   podFailurePolicy; written out so it is visible, and kept for templates without one.)
 * - spec.ttlSecondsAfterFinished: finished Jobs are deleted after a day (logs readable until then).
 * - spec.template.spec.activeDeadlineSeconds: when the worker's args set --timeout and each pod runs one
 *   message, the pod's deadline is above --timeout + --grace (+ --idle), with a margin for image pull and
 *   connect; wq's own --timeout always acts first. Not the Job-level field: that bounds all pods together.
 * - --suspend / --kueue-queue NAME: spec.suspend: true; Kueue's kueue.x-k8s.io/queue-name label.
 * A value the template sets itself is kept, except that --suspend and --kueue-queue set suspend.
 */
export function applyJobFields(job: Document, container: YAMLMap, options: Pick<JobOptions, 'suspend' | 'kueueQueue'>, notes: string[]): void {
  if (!job.hasIn(['spec', 'podReplacementPolicy'])) job.setIn(['spec', 'podReplacementPolicy'], 'Failed');
  if (!job.hasIn(['spec', 'ttlSecondsAfterFinished'])) job.setIn(['spec', 'ttlSecondsAfterFinished'], DEFAULTS.jobTtlSeconds);
  const deadline = podDeadline(container);
  const current = job.getIn(['spec', 'template', 'spec', 'activeDeadlineSeconds']);
  if (deadline !== undefined && !(typeof current === 'number' && current >= deadline)) {
    if (typeof current === 'number') notes.push(`activeDeadlineSeconds ${current} raised to ${deadline}: above --timeout + --grace`);
    job.setIn(['spec', 'template', 'spec', 'activeDeadlineSeconds'], deadline);
  }
  if (options.suspend || options.kueueQueue) job.setIn(['spec', 'suspend'], true);
  if (options.kueueQueue) {
    if (!isMap(job.getIn(['metadata', 'labels']))) job.setIn(['metadata', 'labels'], job.createNode({}));
    job.setIn(['metadata', 'labels', 'kueue.x-k8s.io/queue-name'], options.kueueQueue);
  }
}

/** The pod deadline for a one-message wq-consume whose args set --timeout; undefined otherwise. */
export function podDeadline(container: YAMLMap): number | undefined {
  const argv = workerArgv(container);
  if (!argv) return undefined;
  const a = consumeArgs(argv);
  if (a.timeout === undefined || a.count !== 1) return undefined;
  const grace = a.grace ?? DEFAULTS.graceSeconds;
  const idle = a.untilEmpty ? (a.idle ?? DEFAULTS.idleSeconds) : 0;
  // The margin covers the image pull and the default --connect-timeout; a longer one, and --wait for the
  // message, come before the command starts. One it cannot read ($(W)) counts as none: a lower bound.
  const waiting = a.wait + Math.max(0, a.connectTimeout - DEFAULTS.connectTimeoutSeconds);
  return Math.ceil(waiting + a.timeout + grace + idle + DEFAULTS.jobDeadlineMarginSeconds);
}

/** How the container's wq-consume takes messages: a drain (--until-empty, no --count), or --count (undefined: not a number here). */
export function takes(container: YAMLMap): { drains: boolean; count: number | undefined } {
  const argv = workerArgv(container);
  const a = argv ? consumeArgs(argv) : undefined;
  return { drains: a !== undefined && a.untilEmpty && a.count === 0, count: a ? a.count : DEFAULTS.count };
}

// wq-consume's arguments: `args` (the image's entrypoint runs wq-consume), after those of `command` that
// follow wq-consume when the command runs it (["wq-consume", "-c", "1", ...], or through an init such as
// tini); undefined when there are none, or when `command` runs another program.
function workerArgv(container: YAMLMap): string[] | undefined {
  const strings = (node: unknown) => (isSeq(node) ? node.items.map((i) => String((i as { value?: unknown }).value ?? i)) : undefined);
  const command = strings(container.get('command')) ?? [];
  const args = strings(container.get('args'));
  const at = command.findIndex((c) => c === 'wq-consume' || c.endsWith('/wq-consume'));
  if (at >= 0) return [...command.slice(at + 1), ...(args ?? [])];
  return command.length > 0 ? undefined : args; // another program's args are not wq-consume's
}

interface ConsumeArgs {
  timeout?: number;
  grace?: number;
  idle?: number;
  /** 0 when not a number here ($(W)). */
  wait: number;
  /** The default when not a number here. */
  connectTimeout: number;
  /** undefined: given, but not a number here. */
  count: number | undefined;
  untilEmpty: boolean;
}

// The few wq-consume options the deadline depends on, read as wq-consume reads them (its own parser and
// options): up to the command, whether "--" comes first or not, so that the worker's own flags never
// count. Args wq-consume would refuse, or a value it cannot read here ($(VAR)), set nothing. --timeout 0
// is no limit.
function consumeArgs(argv: string[]): ConsumeArgs {
  let values: ParsedValues;
  try {
    values = parseArgv(argv, CONSUME_OPTIONS, true).values;
  } catch {
    return { count: DEFAULTS.count, untilEmpty: false, wait: DEFAULTS.waitSeconds, connectTimeout: DEFAULTS.connectTimeoutSeconds };
  }
  const untilEmpty = values['until-empty'] === true;
  const timeout = num(values.timeout);
  // A --count it cannot read ($(N)) is unknown: neither one message nor a drain.
  const count = values.count === undefined ? (untilEmpty ? 0 : DEFAULTS.count) : num(values.count);
  const wait = num(values.wait) ?? DEFAULTS.waitSeconds;
  const connectTimeout = num(values['connect-timeout']) ?? DEFAULTS.connectTimeoutSeconds;
  return { timeout: timeout !== undefined && timeout > 0 ? timeout : undefined, grace: num(values.grace), idle: num(values.idle), wait, connectTimeout, count, untilEmpty };
}

function num(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}
