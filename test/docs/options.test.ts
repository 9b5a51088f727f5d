import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CONSUME_GROUPS, CONSUME_OPTIONS } from '../../src/config/consume.js';
import { PUBLISH_GROUPS, PUBLISH_OPTIONS } from '../../src/config/publish.js';
import { between, optionDefault, renderOptions, TABLES } from '../../scripts/docs-options.mjs';
import { DIST } from '../helpers/cli.js';
import { codeLines, optionRows, pages, read } from './markdown.js';

// The options reference follows the code: docs/consume.md and docs/publish.md hold the tables that
// `npm run docs` renders from the option tables --help prints, and nothing in them names an option
// the CLIs do not have.

interface HelpOption {
  name: string;
  default: string;
}

/** The options `CLI --help` lists (the built dist/), each with the default its line names. */
function helpOptions(cli: 'wq-consume' | 'wq-publish'): HelpOption[] {
  const text = execFileSync(process.execPath, [DIST(cli), '--help'], { encoding: 'utf8' });
  const out: HelpOption[] = [];
  for (const line of text.split('\n')) {
    const m = /^ {2}(?:-\w, | {4})--(?:\[no-\])?([a-z][a-z0-9-]*)( [A-Z=_.]+)? {2,}(\S.*)$/.exec(line);
    if (m) out.push({ name: m[1] as string, default: optionDefault(m[3] as string, m[2] ? 'string' : 'boolean') });
  }
  return out;
}

const CLIS = [
  { cli: 'wq-consume', page: 'docs/consume.md', specs: CONSUME_OPTIONS },
  { cli: 'wq-publish', page: 'docs/publish.md', specs: PUBLISH_OPTIONS },
] as const;

describe('the options reference', () => {
  for (const { cli, page, specs } of CLIS) {
    it(`${page} lists every option of ${cli} --help, with the same default`, () => {
      const help = helpOptions(cli);
      expect(help.length).toBe(specs.length);
      const rows = new Map(optionRows(page).map((r) => [r.name, r.default]));
      for (const o of help) expect({ option: o.name, default: rows.get(o.name) }).toEqual({ option: o.name, default: o.default });
    });

    it(`every option in ${page}'s tables is an option of ${cli}`, () => {
      const names = new Set(specs.map((s) => s.name));
      const unknown = optionRows(page).filter((r) => !names.has(r.name));
      expect(unknown).toEqual([]);
    });
  }

  it('the generated tables are current (npm run docs writes them)', () => {
    const specs = { CONSUME_OPTIONS, PUBLISH_OPTIONS };
    const groups = { CONSUME_GROUPS, PUBLISH_GROUPS };
    for (const t of TABLES) {
      const there = between(read(t.file), t.name);
      expect(there, `${t.file} has no "${t.name}" markers`).toBeDefined();
      expect(there, `${t.file}: run npm run docs`).toBe(renderOptions(specs[t.specs], groups[t.order]));
    }
  });

  it('an options table anywhere in docs/ names only options that exist', () => {
    const all = new Set([...CONSUME_OPTIONS, ...PUBLISH_OPTIONS].map((s) => s.name));
    const unknown = pages().flatMap(optionRows).filter((r) => !all.has(r.name));
    expect(unknown).toEqual([]);
  });

  it('every long option in a wq-consume or wq-publish command shown in README.md or docs/ exists', () => {
    const known = { 'wq-consume': new Set(CONSUME_OPTIONS.map((s) => s.name)), 'wq-publish': new Set(PUBLISH_OPTIONS.map((s) => s.name)) };
    const unknown: string[] = [];
    for (const page of pages()) {
      for (const { line } of codeLines(read(page))) {
        for (const m of line.matchAll(/\b(wq-consume|wq-publish)(?:\.mjs)?\b(.*)/g)) {
          const cli = m[1] as keyof typeof known;
          // Options end at "--" (the command follows), a pipe, or the end of the shell command.
          const options = (m[2] as string).split(/ -- | --$|\||&&|;|#/)[0] as string;
          for (const f of options.matchAll(/(?:^|\s)--([a-z][a-z0-9-]*)/g)) {
            const name = (f[1] as string).replace(/^no-/, '');
            if (!known[cli].has(name)) unknown.push(`${page}: ${cli} --${f[1]}`);
          }
        }
      }
    }
    expect(unknown).toEqual([]);
  });
});
