import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

/** The variable that names the body file; message-env.ts keeps an inherited one out of the command's environment. */
export const BODY_FILE_ENV = 'WQ_BODY_FILE';

/*
 * The command's input and output for one message (docs/consume.md "Input and results"):
 * - with -I, `{}` in an argument becomes the body as text (one argument, never split by a shell), and
 *   `{file}` the path of a file that holds the body, bytes intact. A body that no argument can carry
 *   (not UTF-8, a NUL byte, over the size limit) is never run with a mangled argument: the message is
 *   rejected (exit status 65: retry or dead-letter). Without -I a literal `{}` is left as it is;
 * - --item-file (or `{file}`): the body file, also in WQ_BODY_FILE: mode 0600 in a directory of wq's
 *   own (mode 0700, under TMPDIR), removed when the command ends, and the directory when wq-consume exits;
 * - stdin gets the body unless --no-stdin (then it is empty);
 * - a result to publish: stdout goes to an unlinked file of the same directory, read back when the
 *   command has ended, so nothing the command leaves behind can hold it open, and nothing is left on
 *   disk whatever way wq-consume ends. A failed command's stdout is then passed through (its first
 *   --result-max-bytes), as it would have been without a result to send.
 */

export interface ItemIoOptions {
  replace: boolean;
  itemFile: boolean;
  stdin: boolean;
  itemArgMaxBytes: number;
  resultMaxBytes: number;
}

export const BODY_PLACEHOLDER = '{}';
export const FILE_PLACEHOLDER = '{file}';
const PLACEHOLDERS = /\{\}|\{file\}/g;
/** The kernel's limit on one argument, its NUL included (MAX_ARG_STRLEN). */
const MAX_ARG_BYTES = 128 * 1024;

/** One message's input and output, ready to start the command with. */
export interface ItemIo {
  args: string[];
  stdin: Buffer;
  env: Record<string, string>;
  stdoutFd?: number;
  /** The body is in the arguments ({} with -I): their size in bytes, for a start the kernel refuses (E2BIG). */
  argBytes?: number;
  /** Why the command must not run on this message (rejected); the rest is then unset. */
  rejected?: string;
  /**
   * Once the command has ended: its captured stdout (at most --result-max-bytes of it) and whole size;
   * the files removed. Call once.
   */
  finish(): Captured;
}

export interface Captured {
  output?: Buffer;
  /** The whole output's size: over --result-max-bytes, `output` is its beginning. */
  bytes: number;
  /** TMPDIR was full when the command ended, or when another capture ended while it ran: a write to its stdout may have failed (ENOSPC), cutting it short. */
  full?: boolean;
}

/** Less room than this left in TMPDIR when a command ends: its captured stdout may have been cut. */
const FULL_BELOW_BYTES = 64 * 1024;

export class ItemFiles {
  private dir: string | undefined;
  private seq = 0;
  private readonly bodyFile: boolean;
  /** How many captures found TMPDIR full as they ended: one that fills it can cut another's output short, then free the room. */
  private fullSeen = 0;

  constructor(
    private readonly args: readonly string[],
    private readonly opts: ItemIoOptions & { resultQueue: string; reply: boolean },
  ) {
    this.bodyFile = opts.itemFile || (opts.replace && args.some((a) => a.includes(FILE_PLACEHOLDER)));
    // At start-up, before any message is taken: a TMPDIR that cannot hold wq's directory ends the run, 78.
    if (this.bodyFile || opts.resultQueue || opts.reply) {
      try {
        this.directory();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        throw new ConfigError(`cannot make a directory in ${tmpdir()} (${code}) for the body and output files: set TMPDIR to a writable directory, e.g. an emptyDir.`);
      }
    }
  }

  /** Everything the command needs for `body`; throws only if a file cannot be written (ENOSPC, EMFILE). */
  prepare(body: Buffer, capture: boolean): ItemIo {
    const refuse = (rejected: string): ItemIo => ({ args: [...this.args], stdin: body, env: {}, rejected, finish: () => ({ bytes: 0 }) });
    let text: string | undefined;
    if (this.opts.replace && this.args.some((a) => a.includes(BODY_PLACEHOLDER))) {
      const t = argumentText(body, this.opts.itemArgMaxBytes);
      if (typeof t !== 'string') return refuse(t.rejected);
      text = t;
    }
    const bodyPath = this.bodyFile ? this.path('body') : undefined;
    // One pass over each argument: what is put in is never read again ($ and {file} in a body stay as they are).
    const args = this.opts.replace ? this.args.map((a) => a.replace(PLACEHOLDERS, (p) => (p === BODY_PLACEHOLDER ? (text ?? p) : (bodyPath ?? p)))) : [...this.args];
    const longest = Math.max(0, ...args.map((a) => Buffer.byteLength(a)));
    if (longest >= MAX_ARG_BYTES) return refuse(`an argument with the body in it would be ${longest} bytes, over the ${MAX_ARG_BYTES - 1} the kernel allows one argument (pass it as {file} or on stdin)`);
    const env: Record<string, string> = {};
    const made: string[] = [];
    let stdoutFd: number | undefined;
    const cleanUp = () => {
      if (stdoutFd !== undefined) closeSync(stdoutFd);
      stdoutFd = undefined;
      for (const path of made) removeQuietly(path);
    };
    try {
      if (bodyPath !== undefined) {
        made.push(bodyPath);
        writeFileSync(bodyPath, body, { mode: 0o600, flag: 'wx' });
        env[BODY_FILE_ENV] = bodyPath;
      }
      if (capture) {
        const path = this.path('stdout');
        made.push(path);
        stdoutFd = openSync(path, 'ax+', 0o600); // appended: fd 1, and /dev/stdout reopened to append, write at the end
        unlinkSync(path);
        made.pop();
      }
    } catch (err) {
      cleanUp();
      throw err;
    }
    const max = this.opts.resultMaxBytes;
    const fullSeenAtStart = this.fullSeen;
    const finish = () => {
      try {
        if (stdoutFd === undefined) return { bytes: 0 };
        // Full now, or found full by another capture that ended while this one ran (--concurrency).
        if (roomLeft(this.directory()) < FULL_BELOW_BYTES) this.fullSeen++;
        return { ...readCaptured(stdoutFd, max), full: this.fullSeen !== fullSeenAtStart };
      } finally {
        cleanUp();
      }
    };
    const argBytes = text === undefined ? undefined : args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    return { args, stdin: this.opts.stdin ? body : Buffer.alloc(0), env, stdoutFd, argBytes, finish };
  }

  private path(kind: string): string {
    return join(this.directory(), `${kind}-${++this.seq}`);
  }

  private directory(): string {
    if (this.dir === undefined) {
      const dir = mkdtempSync(join(resolve(tmpdir()), 'wq-consume-')); // absolute: a relative TMPDIR would not survive the command's cd
      process.on('exit', () => removeQuietly(dir)); // after the commands are killed (runner.ts)
      this.dir = dir;
    }
    return this.dir;
  }
}

function readCaptured(fd: number, max: number): Captured {
  const bytes = fstatSync(fd).size;
  const output = Buffer.allocUnsafe(Math.min(bytes, max));
  let done = 0;
  while (done < output.length) {
    const n = readSync(fd, output, done, output.length - done, done);
    if (n === 0) break;
    done += n;
  }
  return { output: output.subarray(0, done), bytes };
}

// What the command can still write there (root may use the blocks reserved for it); a filesystem that
// cannot say (ramfs counts no blocks) counts as roomy.
function roomLeft(dir: string): number {
  try {
    const fs = statfsSync(dir);
    if (fs.blocks === 0) return Infinity;
    return (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize;
  } catch {
    return Infinity;
  }
}

// A command may have changed what it was given (a file made a directory, its mode): never a throw.
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // left for the pod's end; nothing more to do
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body as one argument, or why it cannot be one. */
function argumentText(body: Buffer, maxBytes: number): string | { rejected: string } {
  const hint = '(pass it as {file} or on stdin)';
  if (body.length > maxBytes) return { rejected: `the body is ${body.length} bytes, over the ${maxBytes} that {} (with -I) may hold ${hint}` };
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { rejected: `the body is not UTF-8 text, which {} (with -I) needs ${hint}` };
  }
  if (body.includes(0)) return { rejected: `the body holds a NUL byte, which no argument can carry ${hint}` };
  return text;
}
