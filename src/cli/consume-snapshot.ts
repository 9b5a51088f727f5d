import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { consumeCli } from './consume-cli.js';
import { runCli } from './run-cli.js';

// The entry of dist/wq-consume.blob, a V8 startup snapshot of wq-consume (scripts/build-snapshot.mjs):
// the bundle's modules (amqplib, pino, wq) are loaded and initialised once, at build time, and every
// start deserialises that heap instead of parsing and running ~240 KB of JavaScript. Started as
//   node --snapshot-blob dist/wq-consume.blob -- [options] -- command [args...]
// Nothing that belongs to one process runs here at build time: the environment, the arguments, the
// signal handlers, the logger's fd and the native addon are all read or opened by runCli at start.
startupSnapshot.setDeserializeMainFunction(() => {
  // The bundle finds its neighbours (dist/wq-spawn.node) through import.meta.url, which the snapshot
  // build defines as this global: the directory of the blob being run.
  (globalThis as { __wqModuleUrl?: string }).__wqModuleUrl = pathToFileURL(resolve(blobPath(process.execArgv), '../wq-consume.mjs')).href;
  // Node gives a deserialised main no script: process.argv is [node, ...arguments].
  runCli(consumeCli, process.argv.slice(1));
});

function blobPath(execArgv: readonly string[]): string {
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    if (arg === '--snapshot-blob') return execArgv[i + 1] ?? '.';
    if (arg.startsWith('--snapshot-blob=')) return arg.slice('--snapshot-blob='.length);
  }
  return './wq-consume.blob';
}
