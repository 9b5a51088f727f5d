// Bundle the floor scripts and the execa load pair with the same esbuild options as dist/ (scripts/
// esbuild-options.mjs), into a temporary directory, so a ratio compares code rather than bundling.
// The .cjs floor is bundled as CommonJS (no ESM banner), with the other options the same.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS } from '../../scripts/esbuild-options.mjs';

const BENCH = fileURLToPath(new URL('..', import.meta.url));

export const FLOORS = ['floor-consume', 'floor-drain', 'floor-spawn', 'floor-publish', 'load-execa', 'load-child-process'];
export const CJS_FLOORS = ['floor-consume-lean'];

export async function buildFloors(outdir) {
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: Object.fromEntries(FLOORS.map((name) => [name, `${BENCH}${name}.mjs`])),
    outdir,
  });
  await build({
    ...BUNDLE_OPTIONS,
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    outExtension: { '.js': '.cjs' },
    entryPoints: Object.fromEntries(CJS_FLOORS.map((name) => [name, `${BENCH}${name}.cjs`])),
    outdir,
  });
  return {
    ...Object.fromEntries(FLOORS.map((name) => [name, `${outdir}/${name}.mjs`])),
    ...Object.fromEntries(CJS_FLOORS.map((name) => [name, `${outdir}/${name}.cjs`])),
  };
}
