// dist/wq-consume: wq-consume as one executable file, a Node single executable application (SEA) whose
// blob is a V8 startup snapshot of src/cli/consume-sea.ts and carries dist/wq-spawn.node as an asset.
// Copied alone into any glibc image (no Node there), it runs as the ENTRYPOINT (README, "The image").
//
// A SEA is a copy of one node binary with the blob injected (postject); the snapshot inside only starts
// on that same binary, so both come from one Node >= 24: the node running this build when it is 24 or
// newer (the image's build stage), else the Node 24 that scripts/node-versions.mjs fetched (npm test
// does), else WQ_SEA_NODE. Without any, the build goes on without dist/wq-consume and says so.
// The copy is stripped of its debug symbols first where `strip` exists (127 -> 109 MB for 24.22.3).
// An unchanged input (bundle, addon, node binary) keeps the previous executable: injection takes ~7 s.
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_OPTIONS } from './esbuild-options.mjs';
import { lazyTls } from './lazy-tls.mjs';
import { NODE_VERSIONS, nodeBinary } from './node-versions.mjs';
import { pinoNoTransports } from './pino-no-transports.mjs';

export const SEA_OUT = 'dist/wq-consume';
const WORK = 'dist/sea';
const SOURCE = `${WORK}/wq-consume.sea.cjs`;
const ADDON = 'dist/wq-spawn.node';
// The fuse Node's SEA support looks for (Node's documentation, "Single executable applications").
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The node binary to build with, or undefined. */
export function seaNode(env = process.env) {
  if (env.WQ_SEA_NODE) return env.WQ_SEA_NODE;
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const fetched = nodeBinary(NODE_VERSIONS[24], env);
  return existsSync(fetched) ? fetched : undefined;
}

/** Returns esbuild's metafile of the SEA's bundle, or undefined when no SEA was made. */
export async function buildSea(define) {
  const node = seaNode();
  if (!node) {
    rmSync(SEA_OUT, { force: true });
    console.warn(`build: no ${SEA_OUT} (a single executable needs Node >= 24: run node scripts/node-versions.mjs, or set WQ_SEA_NODE)`);
    return undefined;
  }
  mkdirSync(WORK, { recursive: true });
  const { metafile } = await build({
    ...BUNDLE_OPTIONS,
    entryPoints: ['src/cli/consume-sea.ts'],
    outfile: SOURCE,
    outExtension: undefined,
    // As the snapshot's entry (build-snapshot.mjs): a CommonJS script that requires built-ins only.
    format: 'cjs',
    banner: undefined,
    define: { ...define, 'import.meta.url': 'globalThis.__wqModuleUrl' },
    plugins: [pinoNoTransports, lazyTls],
    metafile: true,
  });
  const addon = existsSync(ADDON);
  const stamp = hash([SOURCE, ...(addon ? [ADDON] : [])], node);
  if (existsSync(SEA_OUT) && readIf(`${WORK}/stamp`) === stamp) return metafile;
  rmSync(SEA_OUT, { force: true });
  const config = {
    main: SOURCE,
    output: `${WORK}/prep.blob`,
    disableExperimentalSEAWarning: true,
    useSnapshot: true,
    // The snapshot replaces the code cache (Node refuses both).
    useCodeCache: false,
    assets: addon ? { 'wq-spawn.node': ADDON } : {},
  };
  writeFileSync(`${WORK}/sea-config.json`, JSON.stringify(config, null, 2));
  const prep = spawnSync(node, ['--no-warnings', '--experimental-sea-config', `${WORK}/sea-config.json`], { encoding: 'utf8' });
  if (prep.status !== 0) throw new Error(`build: ${node} --experimental-sea-config failed: ${(prep.stderr || prep.error?.message || '').trim()}`);
  const tmp = `${SEA_OUT}.tmp`;
  copyFileSync(node, tmp);
  if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) execFileSync('strip', ['--strip-all', tmp]);
  const postject = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../node_modules/postject/dist/cli.js');
  const inject = spawnSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', config.output, '--sentinel-fuse', FUSE], { encoding: 'utf8' });
  if (inject.status !== 0) throw new Error(`build: postject failed: ${(inject.stderr || inject.stdout).trim()}`);
  execFileSync('chmod', ['0755', tmp]);
  execFileSync('mv', [tmp, SEA_OUT]);
  writeFileSync(`${WORK}/stamp`, stamp);
  console.log(`build: ${SEA_OUT} (Node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${(statSync(SEA_OUT).size / 1e6).toFixed(0)} MB${addon ? ', with wq-spawn.node' : ''})`);
  return metafile;
}

function hash(files, node) {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  const s = statSync(node);
  return h.update(`${node}:${s.size}:${s.mtimeMs}`).digest('hex');
}

function readIf(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
