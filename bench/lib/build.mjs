// Bundle the floor scripts and the execa load pair with the same esbuild options as dist/ (scripts/
// esbuild-options.mjs), into a temporary directory, so a ratio compares code rather than bundling.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS } from '../../scripts/esbuild-options.mjs';

const BENCH = fileURLToPath(new URL('..', import.meta.url));

export const FLOORS = ['floor-consume', 'floor-drain', 'floor-spawn', 'floor-publish', 'load-execa', 'load-child-process'];

export async function buildFloors(outdir) {
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: Object.fromEntries(FLOORS.map((name) => [name, `${BENCH}${name}.mjs`])),
    outdir,
  });
  return Object.fromEntries(FLOORS.map((name) => [name, `${outdir}/${name}.mjs`]));
}
