import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { consumeCli } from './consume-cli.js';
import { runCli } from './run-cli.js';

// The entry of dist/wq-consume, wq-consume as one executable file: a Node single executable application
// (scripts/build-sea.mjs) whose blob is a V8 startup snapshot of this script, so it starts as fast as
// `node --snapshot-blob` without a node binary, a blob or a bundle beside it. Nothing is read at build
// time that belongs to one process (as in consume-snapshot.ts).
//
// The native spawn (wq-spawn.node) is one of the executable's assets. A shared object can only be
// loaded from a file: it is written into a private directory (mode 0700) under TMPDIR, loaded from
// there, and removed when the process exits. Where that cannot work (a read-only or noexec /tmp, no
// asset), a wq-spawn.node beside the executable is used if there is one, else wq-consume starts commands
// with node:child_process: the same contract (WQ_SPAWN=native then exits 78 before taking a message, as
// everywhere). WQ_SPAWN=child_process skips the file altogether.
startupSnapshot.setDeserializeMainFunction(() => {
  const home = process.env.WQ_SPAWN === 'child_process' ? undefined : addonHome();
  if (home) process.on('exit', () => rmSync(home, { recursive: true, force: true }));
  // The bundle finds its addon through import.meta.url, defined at build time as this global.
  (globalThis as { __wqModuleUrl?: string }).__wqModuleUrl = pathToFileURL(join(home ?? dirname(process.execPath), 'wq-consume.mjs')).href;
  // A single executable's process.argv is [executable, argv[0], ...arguments].
  runCli(consumeCli, process.argv.slice(2));
});

/** A fresh private directory holding wq-spawn.node, or undefined when there is none to be had. */
function addonHome(): string | undefined {
  const sea = process.getBuiltinModule('node:sea');
  let addon: string | ArrayBuffer;
  try {
    addon = sea.getRawAsset('wq-spawn.node');
  } catch {
    return undefined; // built without the addon
  }
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'wq-consume-'));
    writeFileSync(join(dir, 'wq-spawn.node'), typeof addon === 'string' ? addon : new Uint8Array(addon), { mode: 0o500 });
    return dir;
  } catch {
    if (dir) rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}
