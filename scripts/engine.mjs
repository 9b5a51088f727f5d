// The container engine scripts/image.sh (npm run image) built the images with: its command and the
// environment it needs (podman here: CONTAINERS_CONF, the containers.conf the script wrote).
//   import { engine } from './scripts/engine.mjs';
//   const { cmd, env } = engine();   // e.g. execa(cmd, ['run', '--rm', 'wq-example'], { env: { ...process.env, ...env } })
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The cache directory scripts/image.sh uses (WQ_IMAGE_CACHE, else .cache/wq-image in the repository). */
export const imageCache = () => process.env.WQ_IMAGE_CACHE || join(ROOT, '.cache/wq-image');

/** @returns {{ cmd: 'docker' | 'podman', env: Record<string, string> }} */
export function engine() {
  const file = join(imageCache(), 'engine.env');
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: run npm run image first`);
  }
  const env = Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const { WQ_ENGINE: cmd, ...rest } = env;
  if (cmd !== 'docker' && cmd !== 'podman') throw new Error(`${file}: WQ_ENGINE=${cmd}: run npm run image again`);
  return { cmd, env: rest };
}
