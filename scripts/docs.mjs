// npm run docs: writes the options tables into docs/consume.md and docs/publish.md (between their
// "generated" markers) from the option tables --help prints, src/config/consume.ts and publish.ts.
//   node scripts/docs.mjs --check   exit 1, writing nothing, when a table is stale
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderOptions, replaceBetween, TABLES } from './docs-options.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');

// The config modules are TypeScript: bundle the two tables into a temporary module and import it (under
// .cache/, so that its dependencies resolve from node_modules/).
mkdirSync(join(ROOT, '.cache'), { recursive: true });
const dir = mkdtempSync(join(ROOT, '.cache', 'docs-'));
let tables;
try {
  const out = join(dir, 'options.mjs');
  await build({
    stdin: { contents: "export { CONSUME_GROUPS, CONSUME_OPTIONS } from './src/config/consume.ts'; export { PUBLISH_GROUPS, PUBLISH_OPTIONS } from './src/config/publish.ts';", resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    logLevel: 'error',
  });
  tables = await import(pathToFileURL(out).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

let stale = 0;
for (const t of TABLES) {
  const path = join(ROOT, t.file);
  const text = readFileSync(path, 'utf8');
  const next = replaceBetween(text, t.name, renderOptions(tables[t.specs], tables[t.order]));
  if (next === text) continue;
  stale++;
  if (check) console.error(`${t.file}: the ${t.name} table is stale; run npm run docs`);
  else {
    writeFileSync(path, next);
    console.log(`${t.file}: ${t.name} table written`);
  }
}
if (check && stale > 0) process.exit(1);
if (!check && stale === 0) console.log('docs: every table is current');
