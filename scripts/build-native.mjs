// Compile src/process/wq-spawn.c into dist/wq-spawn.node with the C compiler against Node's own headers
// (no node-gyp, no Python: one cc call, about half a second). Linux only. Without a compiler or the
// headers, or with a compiler that fails on the source, the build goes on with a warning and wq-consume
// starts commands with node:child_process (same contract, more CPU per message). Warnings are errors in
// CI only (CI=true), so a newer compiler's new warning never costs a user the addon.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const SOURCE = 'src/process/wq-spawn.c';
const ADDON_OUT = 'dist/wq-spawn.node';

/** Node's include/node directory for this node binary, or undefined. */
function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
    join(dirname(dirname(process.execPath)), 'include/node'),
    process.config.variables.node_prefix && join(process.config.variables.node_prefix, 'include/node'),
    join(process.env.HOME ?? '/root', '.cache/node-gyp', process.versions.node, 'include/node'),
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
}

/** The C compiler to use ($CC, then cc, gcc, clang), or undefined. */
function cCompiler() {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean)) {
    if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0) return cc;
  }
  return undefined;
}

export function buildNative() {
  if (process.platform !== 'linux') return warn(`${process.platform}: the native spawn is Linux only`);
  const cc = cCompiler();
  if (!cc) return warn('no C compiler (cc, gcc or clang; or set CC)');
  const headers = nodeHeaders();
  if (!headers) return warn("Node's headers (include/node/node_api.h) were not found; set npm_config_nodedir");
  mkdirSync(dirname(ADDON_OUT), { recursive: true });
  const werror = process.env.CI === 'true' ? ['-Werror'] : [];
  try {
    execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', ...werror, '-shared', '-fPIC', '-fvisibility=hidden', `-I${headers}`, '-DNODE_GYP_MODULE_NAME=wq_spawn', '-DNAPI_VERSION=8', '-o', ADDON_OUT, SOURCE], { stdio: 'inherit' });
  } catch (err) {
    if (werror.length) throw err;
    rmSync(ADDON_OUT, { force: true });
    return warn(`${cc} failed on ${SOURCE} (the lines above say why)`);
  }
  return true;
}

/** The newest glibc symbol version the addon needs ('2.26'), from objdump -T; undefined without objdump. */
export function glibcRequirement(file = ADDON_OUT) {
  const out = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (out.status !== 0) return undefined;
  const versions = [...out.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const newest = versions.at(-1);
  return newest ? `${newest[0]}.${newest[1]}` : '2.0';
}

function warn(why) {
  console.warn(`wq build: ${why}; skipping ${ADDON_OUT}. wq-consume will start commands with node:child_process (same contract, more CPU per message).`);
  return false;
}
