import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/*
 * A local stand-in for the Kubernetes Job controller, for the demo and the end-to-end tests.
 * What it keeps of a Job with restartPolicy OnFailure:
 * - at most `parallelism` pods run at once, and never more than the completions still missing;
 * - a pod is one process (the container's command); exit 0 = the pod Succeeded;
 * - a container that exits non-zero is restarted in the same pod (its restart count grows), and the
 *   failure counts towards backoffLimit, as Kubernetes counts OnFailure restarts;
 * - the Job is Complete when `completions` pods succeeded, Failed when failures pass backoffLimit
 *   (the running pods are then stopped with SIGTERM).
 * It leaves out scheduling, images and restart back-off delays.
 */

export interface JobSpec {
  name: string;
  completions: number;
  parallelism: number;
  /** Failed attempts tolerated before the Job fails. @default 6 (Kubernetes' default) */
  backoffLimit?: number;
}

export interface Container {
  command: string;
  args: string[];
  /** The container's environment (added to this process's). */
  env: Record<string, string>;
}

export interface Attempt {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** ms since the Job started */
  startedAt: number;
  endedAt: number;
}

export interface Pod {
  name: string;
  phase: 'Running' | 'Succeeded' | 'Failed';
  restarts: number;
  attempts: Attempt[];
}

export interface JobStatus {
  name: string;
  condition: 'Complete' | 'Failed';
  succeeded: number;
  /** Failed attempts (containers that exited non-zero). */
  failed: number;
  completions: number;
  parallelism: number;
  pods: Pod[];
  durationMs: number;
}

export type JobEvent = { type: 'started' | 'restarted'; pod: Pod } | { type: 'exited'; pod: Pod; attempt: Attempt };

// Run the Job to its end: Complete, or Failed past backoffLimit.
export async function runJob(spec: JobSpec, container: Container, onEvent: (e: JobEvent) => void = () => {}): Promise<JobStatus> {
  const backoffLimit = spec.backoffLimit ?? 6;
  const t0 = performance.now();
  const pods: Pod[] = [];
  const running = new Map<Pod, () => void>();
  let succeeded = 0;
  let failed = 0;
  let jobFailed = false;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));

  const startAttempt = (pod: Pod) => {
    const startedAt = performance.now() - t0;
    const child = spawn(container.command, container.args, { env: { ...process.env, ...container.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    running.set(pod, () => child.kill('SIGTERM'));
    child.on('error', (e) => err.push(Buffer.from(`${e.message}\n`)));
    child.on('close', (exitCode, signal) => {
      const attempt: Attempt = { exitCode, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), startedAt, endedAt: performance.now() - t0 };
      pod.attempts.push(attempt);
      running.delete(pod);
      if (exitCode === 0) {
        pod.phase = 'Succeeded';
        succeeded++;
      } else {
        failed++;
        if (failed > backoffLimit) {
          pod.phase = 'Failed';
          jobFailed = true;
        }
      }
      onEvent({ type: 'exited', pod, attempt });
      if (pod.phase === 'Running' && !jobFailed) {
        pod.restarts++;
        onEvent({ type: 'restarted', pod });
        startAttempt(pod);
        return;
      }
      if (jobFailed) for (const stop of running.values()) stop();
      schedule();
    });
  };

  const schedule = () => {
    if (!jobFailed) {
      while (running.size < spec.parallelism && succeeded + running.size < spec.completions) {
        const pod: Pod = { name: `${spec.name}-${podSuffix()}`, phase: 'Running', restarts: 0, attempts: [] };
        pods.push(pod);
        onEvent({ type: 'started', pod });
        startAttempt(pod);
      }
    }
    if (running.size === 0) done();
  };

  schedule();
  await finished;
  return {
    name: spec.name,
    condition: jobFailed || succeeded < spec.completions ? 'Failed' : 'Complete',
    succeeded,
    failed,
    completions: spec.completions,
    parallelism: spec.parallelism,
    pods,
    durationMs: performance.now() - t0,
  };
}

/** The most pods that ran at the same moment, from the attempts' start and end times. */
export function maxConcurrent(pods: Pod[]): number {
  const edges = pods.flatMap((p) => p.attempts.flatMap((a) => [[a.startedAt, 1] as const, [a.endedAt, -1] as const]));
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  return max;
}

// Kubernetes-style pod name suffix: 5 characters of [a-z0-9].
function podSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
}
