// An earlier commit of wq, built once into .cache/bench-before/REV, to be measured beside the current
// code in the same run (npm run bench -- --before REV). The tree comes from git; node_modules is the
// current one (the dependencies did not change). Returns the path of its dist/wq-consume.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export function buildBefore(root, rev) {
  const sha = execFileSync('git', ['-C', root, 'rev-parse', '--short', rev], { encoding: 'utf8' }).trim();
  const dir = join(root, '.cache', 'bench-before', sha);
  const bundle = join(dir, 'dist', 'wq-consume.mjs');
  if (existsSync(bundle)) return { sha, bundle };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // git archive: the files of that commit, without touching this checkout.
  execFileSync('sh', ['-c', `git -C "${root}" archive "${sha}" | tar -x -C "${dir}"`]);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CI: '' } });
  return { sha, bundle };
}
