// The machine's own ceiling for a drain, with no broker at all: `command` N times through dist/wq-spawn.node
// (the native spawn wq-consume uses), K at a time, each with a one-line body on stdin. What a consumer could
// reach if AMQP cost nothing.
// Usage: WQ_SPAWN_ADDON=dist/wq-spawn.node COUNT=N [CONCURRENCY=K] node floor-spawn.mjs /path/to/command
import { createRequire } from 'node:module';

const [command] = process.argv.slice(2);
const addon = createRequire(import.meta.url)(process.env.WQ_SPAWN_ADDON);
const count = Number(process.env.COUNT);
const envp = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
let next = 0;
async function loop() {
  while (next < count) {
    const body = Buffer.from(`${next++}\n`);
    const code = await new Promise((resolve, reject) => {
      const r = addon.spawn(command, [command], envp, body, resolve);
      if (typeof r === 'number') reject(new Error(`spawn ${command}: errno ${-r}`));
    });
    if (code !== 0) process.exit(code);
  }
}
await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY ?? 1) }, loop));
