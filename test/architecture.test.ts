import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

// Guards that cost nothing at run time: the import rules between src/ folders, and what the one-message
// bundle may contain (docs/development.md "Where things are").
const SRC = join(ROOT, 'src');
const BASE = new Set(['errors.ts', 'exit-codes.ts', 'log.ts', 'log-text.ts', 'redact.ts', 'status-line.ts']);

/** Which folders (or base files) each folder may import: types only where the rule says so. */
const RULES: Record<string, { values: string[]; types: string[] }> = {
  cli: { values: ['config', 'consume', 'publish', 'k8s', 'cli'], types: [] },
  config: { values: ['config', 'process'], types: [] },
  consume: { values: ['amqp', 'process', 'consume'], types: ['config'] },
  publish: { values: ['amqp', 'publish'], types: ['config'] },
  amqp: { values: ['amqp'], types: ['config'] },
  process: { values: ['process'], types: [] },
  k8s: { values: ['k8s', 'config'], types: [] },
  demo: { values: ['demo'], types: [] },
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

interface Edge { from: string; to: string; typeOnly: boolean }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const target = relative(SRC, join(file, '..', m[2] as string));
      out.push({ from: relative(SRC, file), to: target, typeOnly: m[1] !== undefined });
    }
  }
  return out;
}

const part = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : `base:${path}`);

describe('architecture', () => {
  it('no file in src/ runs past 300 lines (the C included)', () => {
    const all = (dir: string): string[] => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? all(join(dir, name)) : [join(dir, name)]));
    const long = all(SRC)
      .map((file) => [relative(SRC, file), readFileSync(file, 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > 300);
    expect(long).toEqual([]);
  });

  it('no import circle between modules of src/, type imports included', () => {
    const graph = new Map<string, string[]>();
    for (const e of edges()) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to.replace(/\.js$/, '.ts')]);
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'open') return void circles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      state.set(node, 'open');
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(circles).toEqual([]);
  });

  it('src/ keeps only the base files at its top; the rest lives in folders that name the parts', () => {
    const top = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isFile());
    expect(top.filter((n) => !BASE.has(n))).toEqual([]);
    expect(readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory()).sort()).toEqual(Object.keys(RULES).sort());
  });

  it('imports follow the rules between folders; base files import no folder', () => {
    const broken: string[] = [];
    for (const e of edges()) {
      const from = part(e.from);
      const to = part(e.to);
      if (to.startsWith('base:')) continue;
      if (from.startsWith('base:')) {
        broken.push(`${e.from} -> ${e.to} (a base file imports a folder)`);
        continue;
      }
      const rule = RULES[from];
      if (!rule) continue;
      if (rule.values.includes(to) || (e.typeOnly && rule.types.includes(to))) continue;
      broken.push(`${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`);
    }
    expect(broken).toEqual([]);
  });

  it('only cli/ (and the demo\'s own entry) reads argv; nothing but the tests imports demo/; process/ knows no AMQP', () => {
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const text = readFileSync(file, 'utf8');
      if (!rel.startsWith('cli/') && rel !== 'demo/main.ts') expect(/process\.argv/.test(text), rel).toBe(false);
      if (rel.startsWith('process/')) expect(/from 'amqplib'/.test(text), rel).toBe(false);
    }
    expect(edges().filter((e) => part(e.to) === 'demo' && part(e.from) !== 'demo')).toEqual([]);
  });

  it('the one-message bundle, its snapshot and its single executable hold nothing of the publisher, k8s/, yaml or the progress bar', () => {
    const meta = JSON.parse(readFileSync(join(ROOT, 'dist/meta.json'), 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
    // The single executable's bundle is there when a Node 24 was (npm test fetches one: scripts/build-sea.mjs).
    const sea = existsSync(join(ROOT, 'dist/wq-consume')) ? ['dist/sea/wq-consume.sea.cjs'] : [];
    for (const bundle of ['dist/wq-consume.mjs', 'dist/wq-consume.snapshot.cjs', ...sea]) {
      const inputs = Object.keys(meta.outputs[bundle]?.inputs ?? {});
      expect(inputs.length, bundle).toBeGreaterThan(10);
      expect(inputs.filter((i) => /^src\/(consume|process|amqp)\//.test(i)).length).toBeGreaterThan(5);
      expect(inputs.filter((i) => /^src\/(publish|k8s|demo)\/|node_modules\/yaml\/|progress/.test(i))).toEqual([]);
    }
    // The publisher's bundle does carry them: the check can see what it looks for.
    const publisher = Object.keys(meta.outputs['dist/wq-publish.mjs']?.inputs ?? {});
    expect(publisher.some((i) => i.startsWith('src/publish/'))).toBe(true);
    expect(publisher.some((i) => i.includes('node_modules/yaml/'))).toBe(true);
  });

  it('no function in src/ runs past 80 lines', () => {
    const long: string[] = [];
    for (const file of files(SRC)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      let start = -1;
      let name = '';
      let end = /^\}/;
      lines.forEach((line, i) => {
        const m = /^(?:export )?(?:async )?function (\w+)|^  (?:private |async |static |readonly )*(\w+)\(.*\).*\{$/.exec(line);
        if (m && start < 0) {
          start = i;
          name = (m[1] ?? m[2]) as string;
          end = m[1] ? /^\}/ : /^  \}$/; // a top-level function ends at column 0, a method at column 2
        } else if (start >= 0 && end.test(line)) {
          if (i - start > 80) long.push(`${relative(SRC, file)}:${start + 1} ${name} (${i - start} lines)`);
          start = -1;
        }
      });
    }
    expect(long).toEqual([]);
  });
});
