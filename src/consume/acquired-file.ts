import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';

/*
 * --acquired-file PATH (docs/kubernetes.md "KEDA ScaledJob"): the file exists exactly while this process holds a
 * message whose command runs, so a readinessProbe `test -f PATH` makes the pod Ready only then, and KEDA's
 * `pendingPodConditions: [Ready]` counts a pod that is still starting, or only waiting on an empty queue,
 * as pending.
 * - At start-up, before any message is taken, the path is written once and removed: a directory that is
 *   missing or read-only fails the run there (exit 78), so it never costs a delivery. A file there already
 *   is removed only if it is one wq writes (empty, or a pid: left by a container that died, its pod
 *   restarted); anything else is not wq's, and fails the run (78) untouched.
 * - Created just before the first running command starts, removed when the last one ends (with
 *   --concurrency K it stays while any of them runs).
 * - A later failure to create or remove it is logged and ignored: the message is still processed and
 *   acked as usual. At worst the pod is not Ready (KEDA may start one Job more, which finds nothing and
 *   exits 0 after its --idle) or stays Ready a little longer (the pod ends with the process anyway).
 */
export interface AcquiredFile {
  /** A command is about to start. */
  hold(): void;
  /** A command ended (whatever the outcome). */
  release(): void;
}

const NONE: AcquiredFile = { hold() {}, release() {} };

export function openAcquiredFile(path: string, log: Logger): AcquiredFile {
  if (!path) return NONE;
  refuseOthers(path);
  try {
    writeFileSync(path, '');
    rmSync(path, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(`cannot write --acquired-file ${path} (${code}): put it on a writable volume, e.g. an emptyDir mounted at /run/wq (the root filesystem may be read-only).`);
  }
  let held = 0;
  return {
    hold() {
      if (held++ > 0) return;
      try {
        writeFileSync(path, `${process.pid}\n`);
      } catch (err) {
        log.warn({ path, err: (err as Error).message }, 'could not create --acquired-file: processing the message anyway');
      }
    },
    release() {
      if (held === 0 || --held > 0) return;
      try {
        rmSync(path, { force: true });
      } catch (err) {
        log.warn({ path, err: (err as Error).message }, 'could not remove --acquired-file');
      }
    },
  };
}

// What wq writes there: nothing (the start-up test), or its pid and a newline.
const OURS = /^(\d{1,10}\n)?$/;

function refuseOthers(path: string): void {
  let what: string | undefined;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) what = 'is not a regular file';
    else if (stat.size > 11 || !OURS.test(readFileSync(path, 'latin1'))) what = 'is a file wq did not write';
  } catch {
    return; // missing (the usual case), or unreadable: the write test says why
  }
  if (what) throw new ConfigError(`--acquired-file ${path} ${what}, and wq removes that file whenever no command runs: give a path of its own, e.g. /run/wq/acquired on an emptyDir.`);
}
