import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The optional addon built from src/process/wq-spawn.c into dist/wq-spawn.node (scripts/build.mjs): the
// command started with posix_spawn instead of libuv's fork(). Where it cannot be used (no C compiler at
// build time, another libc or platform, no pidfd) wq uses node:child_process: same contract, more CPU per
// message; consume.ts says so at info level, with the reason.

/** [pid, stdin fd still to write (-1: all written and closed), bytes of the body already written] */
export type NativeStarted = [pid: number, stdinFd: number, written: number];
/** What a start gives: the child, or a negative errno when nothing was started. */
export type NativeResult = NativeStarted | number;

export interface NativeSpawn {
  /** onExit(code, signal): code >= 0 and signal 0, code -1 and the signal number, or -1 and 0 when someone else reaped the child; once, on the event loop. */
  spawn(path: string, argv: string[], envp: string[], body: Buffer, onExit: (code: number, signal: number) => void, stdoutFd?: number): NativeResult;
  /** null, or why the addon cannot be used here. */
  available(): string | null;
  /** The version of this interface (ADDON_INTERFACE): a dist/wq-spawn.node left from an older build differs. */
  interface?: number;
}

export type SpawnMode = 'auto' | 'native' | 'child_process';
export const SPAWN_MODES: readonly SpawnMode[] = ['auto', 'native', 'child_process'];

const ADDON_FILE = 'wq-spawn.node';
/** 2: spawn() takes the command's stdout descriptor (a result captured in a file); 3: the exit kills the command's group. */
const ADDON_INTERFACE = 3;

/** The addon next to this bundle (dist/), or `file`; or, when it cannot be used, the reason why. */
export function loadNativeSpawn(file: string | URL = new URL(`./${ADDON_FILE}`, import.meta.url)): NativeSpawn | string {
  if (process.platform !== 'linux') return `${process.platform} is not Linux`;
  try {
    const addon = createRequire(import.meta.url)(file instanceof URL ? fileURLToPath(file) : file) as NativeSpawn;
    if (addon.interface !== ADDON_INTERFACE) return `${ADDON_FILE} is from another build of wq (interface ${addon.interface ?? 1}, this one needs ${ADDON_INTERFACE}): run npm run build`;
    return addon.available() ?? addon;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? `${ADDON_FILE} was not built` : (err as Error).message;
  }
}
