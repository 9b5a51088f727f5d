import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

// Reading the project's Markdown for test/docs/: the pages, their tables, links, headings and code.

/** README.md and every docs/*.md, as paths from the root. */
export function pages(): string[] {
  return ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
}

export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The text outside fenced code blocks (each fenced line replaced by an empty one, so line numbers hold). */
export function prose(text: string): string {
  let fenced = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line;
    })
    .join('\n');
}

/** The lines inside fenced code blocks, each with the heading (## or deeper) it stands under. */
export function codeLines(text: string): { heading: string; line: string }[] {
  let fenced = false;
  let heading = '';
  const out: { heading: string; line: string }[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (fenced) out.push({ heading, line });
    else if (/^#{1,6} /.test(line)) heading = line;
  }
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text).split('\n')) {
    const m = /^#{1,6} (.+?)\s*#*$/.exec(line);
    if (!m) continue;
    const base = (m[1] as string)
      .replace(/<[^>]+>/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Links and images outside code: [text](target), without http(s) and mailto ones. */
export function relativeLinks(text: string): string[] {
  const body = prose(text).replace(/`[^`\n]*`/g, '');
  return [...body.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string).filter((t) => !/^(https?:|mailto:)/.test(t));
}

export interface OptionRow {
  page: string;
  /** Long name without dashes or [no-]. */
  name: string;
  default: string;
}

/** The rows of every table whose header starts `| option | default |`. */
export function optionRows(page: string): OptionRow[] {
  const rows: OptionRow[] = [];
  let inTable = false;
  for (const line of read(page).split('\n')) {
    if (/^\| option \| default \|/.test(line)) {
      inTable = true;
      continue;
    }
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    if (!inTable || /^\| ---/.test(line)) continue;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replaceAll('\\|', '|'));
    const flag = /--(?:\[no-\])?([a-z][a-z0-9-]*)/.exec(cells[0] ?? '');
    if (flag) rows.push({ page, name: flag[1] as string, default: (cells[1] ?? '').replace(/^`|`$/g, '') });
  }
  return rows;
}
