import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULTS } from '../../src/config/defaults.js';
import { loadJobTemplate, renderJob } from '../../src/k8s/job-render.js';
import { queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, FIXTURE } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { jobProblems } from '../helpers/k8s-schema.js';

const tutorial = readFileSync(FIXTURE('job-template.yaml'), 'utf8');
const withArgs = (args: string[]) => tutorial.replace('          image: wq-example\n', `          image: wq-example\n          args: ${JSON.stringify(args)}\n`);
function render(text: string, more: { suspend?: boolean; kueueQueue?: string } = {}) {
  const path = join(tempDir(), 'job.yaml');
  writeFileSync(path, text);
  const r = renderJob(loadJobTemplate({ template: path, secretName: 'wq-broker', secretKey: 'url', ...more }, 'q'), 'q', 3);
  const job = parse(r.manifest) as Job;
  expect(jobProblems(job)).toEqual([]);
  return { job, notes: r.notes };
}
const margin = DEFAULTS.jobDeadlineMarginSeconds;

describe('rendered Jobs carry the modern Job fields', () => {
  it('podReplacementPolicy: Failed and ttlSecondsAfterFinished, kept when the template sets them', () => {
    expect(render(tutorial).job.spec).toMatchObject({ podReplacementPolicy: 'Failed', ttlSecondsAfterFinished: DEFAULTS.jobTtlSeconds });
    expect(render(tutorial).job.spec?.suspend).toBeUndefined();
    const own = tutorial.replace('  parallelism: 2\n', '  parallelism: 2\n  ttlSecondsAfterFinished: 60\n');
    expect(render(own).job.spec?.ttlSecondsAfterFinished).toBe(60);
  });

  it('the pod deadline is above --timeout + --grace when the args set --timeout; none without it, none for drain pods', () => {
    const pod = (args: string[]) => render(withArgs(args)).job.spec?.template.spec?.activeDeadlineSeconds;
    expect(pod(['--timeout', '300', '--grace', '20', '--', '/app/worker.sh'])).toBe(300 + 20 + margin);
    expect(pod(['-t', '60', '--', '/app/worker.sh'])).toBe(60 + DEFAULTS.graceSeconds + margin);
    expect(pod(['--timeout=90', '-c', '1', '--until-empty', '--idle', '5', '--', 'w'])).toBe(90 + DEFAULTS.graceSeconds + 5 + margin);
    // A --timeout after "--", or after the command without "--", is the worker's own flag.
    expect(pod(['--', '/app/worker.sh', '--timeout', '5'])).toBeUndefined();
    expect(pod(['--timeout', '600', '/app/worker.sh', '--timeout', '5'])).toBe(600 + DEFAULTS.graceSeconds + margin);
    expect(pod(['/app/worker.sh', '-t', '5'])).toBeUndefined();
    // --timeout 0 is no limit: no deadline (it was 0 + grace + margin, a pod killed then).
    expect(pod(['--timeout', '0', '--', '/app/worker.sh'])).toBeUndefined();
    expect(pod(['--timeout', '$(TIMEOUT)', '--', '/app/worker.sh'])).toBeUndefined();
    // A --count it cannot read may take many messages: no deadline (nor, with --until-empty, a drain refused).
    expect(pod(['-c', '$(N)', '--timeout', '60', '--', 'w'])).toBeUndefined();
    expect(pod(['--until-empty', '-c', '$(N)', '--timeout', '60', '--', 'w'])).toBeUndefined();
    expect(pod(['--grace', '20', '--', '/app/worker.sh'])).toBeUndefined();
    expect(() => pod(['--until-empty', '--timeout', '60', '--', 'w'])).toThrow(/a drain Job/); // --job refuses drain Jobs
    expect(() => pod(['-c', '5', '--timeout', '60', '--', 'w'])).toThrow(/--count 5, but completions counts one message per pod/); // and a --count other than 1
    // --wait for the message, and a --connect-timeout above the default, come before the command: a pod
    // that got its message at 590 s of --wait 600 was killed 150 s into its --timeout 600 (deadline 740).
    expect(pod(['--wait', '600', '--timeout', '600', '--grace', '20', '--', 'w'])).toBe(600 + 600 + 20 + margin);
    expect(pod(['--connect-timeout', '90', '--timeout', '60', '--', 'w'])).toBe(90 - DEFAULTS.connectTimeoutSeconds + 60 + DEFAULTS.graceSeconds + margin);
    // One it cannot read counts as none: the deadline stays above --timeout + --grace (a template's lower one is raised).
    expect(pod(['--wait', '$(W)', '--timeout', '60', '--', 'w'])).toBe(60 + DEFAULTS.graceSeconds + margin);
    expect(pod(['--connect-timeout', '$(C)', '--timeout', '60', '--', 'w'])).toBe(60 + DEFAULTS.graceSeconds + margin);
  });

  it("a template's deadline below --timeout + --grace is raised, with a note; one above is kept", () => {
    const args = withArgs(['--timeout', '100', '--', 'w']);
    const low = render(args.replace('      restartPolicy: OnFailure', '      restartPolicy: OnFailure\n      activeDeadlineSeconds: 50'));
    expect(low.job.spec?.template.spec?.activeDeadlineSeconds).toBe(100 + DEFAULTS.graceSeconds + margin);
    expect(low.notes).toContainEqual(expect.stringMatching(/activeDeadlineSeconds 50 raised/));
    const high = render(args.replace('      restartPolicy: OnFailure', '      restartPolicy: OnFailure\n      activeDeadlineSeconds: 5000'));
    expect(high.job.spec?.template.spec?.activeDeadlineSeconds).toBe(5000);
  });

  it('--suspend sets spec.suspend; --kueue-queue adds the label and suspends, keeping the template labels', () => {
    expect(render(tutorial, { suspend: true }).job.spec?.suspend).toBe(true);
    const kueue = render(tutorial.replace('  name: job-wq-1\nspec:', '  name: job-wq-1\n  labels:\n    jobgroup: jobexample\nspec:'), { kueueQueue: 'team-a' }).job;
    expect(kueue.spec?.suspend).toBe(true);
    expect(kueue.metadata?.labels).toEqual({ jobgroup: 'jobexample', 'kueue.x-k8s.io/queue-name': 'team-a' });
    expect(render(tutorial, { kueueQueue: 'team-b' }).job.metadata?.labels).toEqual({ 'kueue.x-k8s.io/queue-name': 'team-b' });
  });

  it('wq-publish --job --kueue-queue on the CLI; --suspend without --job or --expand is a usage error', async () => {
    const queue = uniqueQueue('job-kueue');
    const run = await cli('wq-publish', ['-q', queue, '--job', 'k8s/job.yaml', '--kueue-queue', 'team-a', 'a', 'b']);
    expect(run.exitCode).toBe(0);
    const job = parse(run.stdout) as Job;
    expect(jobProblems(job)).toEqual([]);
    expect(job.spec).toMatchObject({ suspend: true, completions: 2, podReplacementPolicy: 'Failed' });
    expect(job.metadata?.labels?.['kueue.x-k8s.io/queue-name']).toBe('team-a');
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
    const bad = await cli('wq-publish', ['-q', uniqueQueue('no-job'), '--suspend', 'a']);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toContain('--suspend only applies with --job');
  });
});
