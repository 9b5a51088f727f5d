import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from 'kubernetes-types/batch/v1.js';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { jobName } from '../../src/k8s/job-names.js';
import { execa } from 'execa';
import { cli, DIST, FIXTURE, NODE } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { validateManifests } from '../helpers/k8s-schema.js';

const TEMPLATE = FIXTURE('expansion-template.yaml');
const DNS1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

function jobs(stdout: string): Job[] {
  const docs = parseAllDocuments(stdout);
  if (!Array.isArray(docs)) return [];
  for (const d of docs) expect(d.errors).toEqual([]);
  const list = docs.map((d) => d.toJS() as Job);
  expect(validateManifests(list.map((doc, index) => ({ file: 'expanded', index, doc: doc as unknown as Record<string, unknown> })))).toEqual([]);
  return list;
}
const command = (job: Job) => job.spec?.template.spec?.containers[0]?.command?.[2];
const itemEnv = (job: Job) => job.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'ITEM')?.value;

describe('wq-publish --expand: one Job per item, no broker', () => {
  it("renders the seed page's template for many items: unique DNS-1123 names, labels kept, valid Jobs", async () => {
    const items = Array.from({ length: 40 }, (_, i) => `item${i}`);
    // An unreachable broker URL: --expand never connects.
    const run = await cli('wq-publish', ['--expand', TEMPLATE, '--url', 'amqp://nobody:secret@127.0.0.1:1', ...items], { noBrokerEnv: true });
    expect(run.exitCode).toBe(0);
    const list = jobs(run.stdout);
    expect(list.map((j) => j.metadata?.name)).toEqual(items.map((i) => `process-item-${i}`));
    for (const [i, job] of list.entries()) {
      expect(command(job)).toBe(`echo Processing item ${items[i]} && sleep 5`);
      expect(itemEnv(job)).toBe(items[i]);
      expect(job.metadata?.labels).toEqual({ jobgroup: 'jobexample' });
      expect(job.spec?.template.metadata?.labels).toEqual({ jobgroup: 'jobexample' });
      expect(job.spec).toMatchObject({ podReplacementPolicy: 'Failed', ttlSecondsAfterFinished: 86400 });
      expect(job.spec?.suspend).toBeUndefined();
    }
    expect(run.stdout.split('\n').filter((l) => l === '---')).toHaveLength(items.length);
    expect(run.logs.at(-1)?.msg).toBe(`wrote 40 Jobs from ${TEMPLATE}`);
  });

  it('quotes what would break YAML: a ", a :, a newline, a 300-character item, "true", "123", a # and a leading -', async () => {
    const long = 'x'.repeat(150) + ' y: z '.repeat(25);
    const items = ['say "hi"', 'key: value', 'two\nlines', long, 'true', '123', 'a # not a comment', '- dash', "it's", '$ITEM'];
    const file = join(tempDir(), 'items.txt');
    // --file and stdin are lines: a newline inside one item comes only from -b or the arguments.
    const run = await cli('wq-publish', ['--expand', TEMPLATE, '--', ...items]);
    expect(run.exitCode).toBe(0);
    const list = jobs(run.stdout);
    expect(list.map(itemEnv)).toEqual(items);
    expect(list.map(command)).toEqual(items.map((i) => `echo Processing item ${i} && sleep 5`));
    const names = list.map((j) => j.metadata?.name as string);
    expect(new Set(names).size).toBe(items.length);
    for (const n of names) expect(n).toMatch(DNS1123);
    expect(names[2]).toMatch(/^process-item-two-lines-[0-9a-f]{8}$/);
    expect(names[3]?.length).toBeLessThanOrEqual(63);
    writeFileSync(file, 'from-file\nsecond: line\n');
    const fromFile = await cli('wq-publish', ['--expand', TEMPLATE, '--file', file]);
    expect(jobs(fromFile.stdout).map(itemEnv)).toEqual(['from-file', 'second: line']);
    const fromStdin = await cli('wq-publish', ['--expand', TEMPLATE], { input: 'a\nb\n' });
    expect(jobs(fromStdin.stdout).map((j) => j.metadata?.name)).toEqual(['process-item-a', 'process-item-b']);
  });

  it('labels with $ITEM stay valid label values; a name without $ITEM (in any case) gets the item appended; a repeated item a suffix', async () => {
    const path = join(tempDir(), 't.yaml');
    // A label with text around $ITEM: "pre-" and a 63-character item went over 63 (exit 64).
    writeFileSync(path, readFileSync(TEMPLATE, 'utf8').replace('name: process-item-$ITEM', 'name: Batch').replace('    jobgroup: jobexample\nspec', '    jobgroup: jobexample\n    item: $ITEM\n    tagged: pre-$ITEM\nspec'));
    const long = 'x'.repeat(63);
    const run = await cli('wq-publish', ['--expand', path, 'Apple', 'Apple', 'ok', 'has space/and:colon', 'Apple', long]);
    expect(run.exitCode, run.stderr).toBe(0);
    const list = jobs(run.stdout);
    const names = list.map((j) => j.metadata?.name);
    expect(names[0]).toMatch(/^batch-apple-[0-9a-f]{8}$/); // upper case cannot stay as it is
    expect(names[1]).toBe(`${names[0]}-2`);
    expect(names[2]).toBe('batch-ok');
    expect(names[4]).toBe(`${names[0]}-3`);
    expect(list.map((j) => j.metadata?.labels?.item)).toEqual(['Apple', 'Apple', 'ok', expect.stringMatching(/^has-space-and-colon-[0-9a-f]{8}$/), 'Apple', long]);
    expect(list.map((j) => j.metadata?.labels?.tagged)).toEqual(['pre-Apple', 'pre-Apple', 'pre-ok', expect.stringMatching(/^pre-has-space-and-colon-[0-9a-f]{8}$/), 'pre-Apple', expect.stringMatching(/^pre-x{50}-[0-9a-f]{8}$/)]);
    for (const j of list) expect(j.metadata?.labels?.item).toMatch(LABEL);
    for (const j of list) expect(j.metadata?.labels?.tagged).toMatch(LABEL);
    expect(run.logs.some((l) => /repeats a name/.test(l.msg))).toBe(true);
  });

  // A nodeSelector value is a node's label value: "has space" put there raw made a Job the API server refuses.
  it('$ITEM in a nodeSelector value is made a label value too; elsewhere in the pod it stays as it is', async () => {
    const path = join(tempDir(), 't.yaml');
    writeFileSync(path, readFileSync(TEMPLATE, 'utf8').replace('    spec:\n      containers:', '    spec:\n      nodeSelector:\n        pool: $ITEM\n      containers:'));
    const run = await cli('wq-publish', ['--expand', path, 'fast', 'has space']);
    expect(run.exitCode, run.stderr).toBe(0);
    const list = jobs(run.stdout);
    expect(list.map((j) => j.spec?.template?.spec?.nodeSelector?.pool)).toEqual(['fast', expect.stringMatching(/^has-space-[0-9a-f]{8}$/)]);
    expect(list.map(itemEnv)).toEqual(['fast', 'has space']);
  });

  it('--suspend and --kueue-queue apply to every expanded Job', async () => {
    const run = await cli('wq-publish', ['--expand', TEMPLATE, '--kueue-queue', 'team-a', 'a', 'b']);
    expect(run.exitCode).toBe(0);
    for (const job of jobs(run.stdout)) {
      expect(job.spec?.suspend).toBe(true);
      expect(job.metadata?.labels).toEqual({ jobgroup: 'jobexample', 'kueue.x-k8s.io/queue-name': 'team-a' });
    }
  });

  it('bad input: one line, exit 64, nothing on stdout', async () => {
    const dir = tempDir();
    const seed = readFileSync(TEMPLATE, 'utf8');
    const variant = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const noItem = variant('n.yaml', seed.replaceAll('$ITEM', 'fixed'));
    const password = variant('pw.yaml', seed.replace('value: $ITEM', 'value: $ITEM\n            - name: BROKER_URL\n              value: amqp://nouser:Secr3t-pw@rabbitmq:5672'));
    const longName = variant('long.yaml', seed.replace('name: process-item-$ITEM', `name: ${'p'.repeat(56)}-$ITEM`));
    const tabs = variant('tabs.yaml', seed.replace('  name: process-item-$ITEM', '\tname: process-item-$ITEM'));
    const cases: Array<[string[], RegExp]> = [
      [['--expand', noItem, 'a'], /has no \$ITEM/],
      [['--expand', password, 'a'], /holds a broker URL with a password \(amqp:\/\/nouser:\*\*\*@\.\.\.\): put the URL in a Secret/],
      [['--expand', longName, 'apple', 'banana'], /its Job name "p{40}\.\.\." leaves 6 of the 63 characters a Job name may have for the item, which needs up to 8: shorten it\.$/m],
      [['--expand', tabs, 'a'], /is not valid YAML: Tabs are not allowed as indentation at line 5, column 1\. Correct it there and run again\.$/m],
      [['--expand', FIXTURE('record.sh'), 'a'], /must hold exactly one Job|not valid YAML/],
      [['--expand', '/nonexistent.yaml', 'a'], /cannot read --expand template/],
      [['--expand', TEMPLATE, '--job', TEMPLATE, '-q', 'x', 'a'], /not both/],
      [['--expand', TEMPLATE, '--file', '/nonexistent.txt'], /cannot read --file/],
    ];
    for (const [args, message] of cases) {
      const run = await cli('wq-publish', args);
      expect(run.exitCode, args.join(' ')).toBe(64);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.logs[0]?.msg ?? run.stderr).toMatch(message);
      expect(run.stderr).not.toContain('Secr3t-pw');
    }
    const binary = await cli('wq-publish', ['--expand', TEMPLATE], { input: Buffer.from('apple\n\xff\xfe\n', 'latin1') });
    expect(binary.exitCode).toBe(64);
    expect(binary.stdout).toBe('');
    expect(binary.logs[0]?.msg).toMatch(/item 2 is not UTF-8 text, which a Job manifest needs: no Job was written\.$/m);
    const none = await cli('wq-publish', ['--expand', TEMPLATE], { input: '' });
    expect(none.exitCode).toBe(64);
    expect(none.stderr).toContain('no items given');
  });

  it('SIGTERM while it reads a slow stdin: exit 143, nothing on stdout (it was 70, "internal error: The operation was aborted")', async () => {
    const child = execa(NODE, [DIST('wq-publish'), '--expand', TEMPLATE], { reject: false, stdin: 'pipe' });
    child.stdin?.write('apple\n');
    await new Promise((r) => setTimeout(r, 1000)); // started and reading
    child.kill('SIGTERM');
    const run = await child;
    expect(run.exitCode, String(run.stderr)).toBe(143);
    expect(run.stdout).toBe('');
    expect(String(run.stderr)).not.toMatch(/internal error/);
  });

  it('a reader that closes stdout early: exit 74 and one line, not "wrote N Jobs" and exit 0', async () => {
    const items = join(tempDir(), 'items.txt');
    writeFileSync(items, Array.from({ length: 5000 }, (_, i) => `item-${i}`).join('\n'));
    const run = await execa('bash', ['-c', `"$NODE" "$BIN" --expand "$T" --file "$F" --log-format json | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}" >&2`], { reject: false, env: { NODE, BIN: DIST('wq-publish'), T: TEMPLATE, F: items } });
    const lines = String(run.stderr).trim().split('\n');
    expect(lines.at(-1)).toBe('74');
    const logged = lines.slice(0, -1).map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(logged.map((l) => l.msg)).toEqual([expect.stringMatching(/^could not write the 5000 Jobs to stdout \(EPIPE: its reader closed it\)/)]);
  });

  it('is not in the wq-consume bundle, nor is the yaml library', () => {
    const bundle = readFileSync(DIST('wq-consume'), 'utf8');
    expect(bundle).not.toContain('--expand template');
    expect(bundle).not.toContain('kueue.x-k8s.io');
    expect(bundle).not.toMatch(/yaml/i);
  });
});

describe('jobName', () => {
  it('keeps a name-safe item, hashes one that is not, and stays within 63 characters', () => {
    expect(jobName('process-item-$ITEM', 'apple')).toBe('process-item-apple');
    expect(jobName('process-item-$ITEM', 'Apple')).toMatch(/^process-item-apple-[0-9a-f]{8}$/);
    expect(jobName('process-item-$ITEM', '!!!')).toMatch(/^process-item-[0-9a-f]{8}$/);
    expect(jobName('$ITEM-run', '...')).toMatch(/^[0-9a-f]{8}-run$/);
    expect(jobName('p-$ITEM', 'a'.repeat(300))).toMatch(/^p-a+-[0-9a-f]{8}$/);
    expect(jobName('p-$ITEM', 'a'.repeat(300)).length).toBeLessThanOrEqual(63);
    expect(jobName('p-$ITEM', 'a'.repeat(300))).not.toBe(jobName('p-$ITEM', 'a'.repeat(301)));
  });
});
