import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from './job-controller.js';

// npm run demo -- --containers: each pod of the Job is a container of the manifest's image, run by the
// engine scripts/image.sh (npm run image) builds with (docker, or podman and the containers.conf it
// writes). The Job stand-in is the same; only the pod's command changes, from wq-consume on this machine
// to `<engine> run --rm <image>`, whose ENTRYPOINT is tini + wq-consume. The engine's client forwards
// SIGTERM to the container (sig-proxy), as the kubelet stops a pod.

export interface Engine {
  cmd: string;
  env: Record<string, string>;
}

/** Build the images (seconds when they exist) with scripts/image.sh, then read the engine it used. */
export function prepareEngine(root: string): Engine {
  const r = spawnSync('bash', [join(root, 'scripts/image.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm run image failed (exit ${r.status ?? r.signal}): the lines above say why`);
  const file = join(process.env.WQ_IMAGE_CACHE || join(root, '.cache/wq-image'), 'engine.env');
  const vars = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const { WQ_ENGINE: cmd, ...env } = vars;
  if (!cmd) throw new Error(`${file} names no engine: run npm run image`);
  return { cmd, env };
}

/**
 * A pod's container: `<engine> run --rm --network host -e NAME... <image> <args>`. The container's
 * environment is passed by name (-e NAME), so values such as the broker URL stay off the command line.
 */
export function containerPod(engine: Engine, image: string, args: string[], env: Record<string, string>): Container {
  const names = Object.keys(env).flatMap((name) => ['-e', name]);
  return {
    command: engine.cmd,
    args: ['run', '--rm', '--network', 'host', '--stop-timeout', '10', ...names, image, ...args],
    env: { ...engine.env, ...env },
  };
}
