import { buildSync } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS } from '../../scripts/esbuild-options.mjs';
import { tempDir } from './files.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * A script of the test's own, run in a process of its own, that imports wq's sources: `code` is an ES
 * module whose imports name `@src/...` (e.g. `@src/process/runner.js`). Bundled with esbuild, as the CLIs are.
 */
export function bundleScript(code: string): string {
  const dir = tempDir();
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, code.replaceAll('@src/', SRC));
  const out = join(dir, 'script.mjs');
  // The banner of dist/'s bundles: bundled CommonJS dependencies (pino) get a working require().
  buildSync({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'error', banner: { js: BUNDLE_OPTIONS.banner.js.replace(/^#!.*\n/, '') } });
  return out;
}
