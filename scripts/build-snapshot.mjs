// dist/wq-consume.blob: a V8 startup snapshot of wq-consume (src/cli/consume-snapshot.ts), made by the
// node binary that runs the build. Starting from it skips parsing and running the bundle at every start
// (bench/README.md). The blob only works with the node binary that made it, so the image makes its own
// in its runtime stage from dist/wq-consume.snapshot.cjs (docker/Dockerfile). Without snapshot support
// the build goes on with a warning: dist/wq-consume.mjs is the same program.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { BUNDLE_OPTIONS } from './esbuild-options.mjs';
import { lazyTls } from './lazy-tls.mjs';
import { testNodes } from './node-versions.mjs';
import { pinoNoTransports } from './pino-no-transports.mjs';

export const SNAPSHOT_SOURCE = 'dist/wq-consume.snapshot.cjs';
export const SNAPSHOT_BLOB = 'dist/wq-consume.blob';

/** Returns esbuild's metafile of the snapshot's bundle. */
export async function buildSnapshot(define) {
  const { metafile } = await build({
    ...BUNDLE_OPTIONS,
    entryPoints: ['src/cli/consume-snapshot.ts'],
    outfile: SNAPSHOT_SOURCE,
    outExtension: undefined,
    // A snapshot's entry is a CommonJS script whose require() loads built-in modules only.
    format: 'cjs',
    banner: undefined,
    define: { ...define, 'import.meta.url': 'globalThis.__wqModuleUrl' },
    plugins: [pinoNoTransports, lazyTls],
    metafile: true,
  });
  const made = makeBlob(SNAPSHOT_SOURCE, SNAPSHOT_BLOB);
  if (made !== true) console.warn(`build: no startup snapshot (${made}); wq-consume starts from dist/wq-consume.mjs`);
  return metafile;
}

/** node --build-snapshot, quietly (Node warns that some built-ins are "not yet fully verified" there). */
export function makeBlob(source, blob, node = process.execPath) {
  rmSync(blob, { force: true }); // never leave an older build's blob beside a newer bundle
  const r = spawnSync(node, ['--no-warnings', '--snapshot-blob', blob, '--build-snapshot', source], { encoding: 'utf8' });
  return r.status === 0 ? true : (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
}

/**
 * dist/nodeNN/wq-consume.blob for each other Node version the suite runs on (scripts/node-versions.mjs),
 * made by that version's binary where it has been fetched, with the addon beside it (the snapshot finds
 * wq-spawn.node next to its blob). The tests start wq-consume from it on that version (vitest.config.ts).
 */
export function buildVersionBlobs() {
  for (const { major, node } of testNodes()) {
    const dir = `dist/node${major}`;
    rmSync(dir, { recursive: true, force: true });
    if (!existsSync(node)) continue;
    mkdirSync(dir, { recursive: true });
    if (existsSync('dist/wq-spawn.node')) copyFileSync('dist/wq-spawn.node', `${dir}/wq-spawn.node`);
    const made = makeBlob(SNAPSHOT_SOURCE, `${dir}/wq-consume.blob`, node);
    if (made !== true) console.warn(`build: no ${dir}/wq-consume.blob (${made})`);
  }
}
