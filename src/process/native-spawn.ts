import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The optional addon built from src/native/wq-spawn.c into dist/wq-spawn.node (scripts/build.mjs): the
// command started with posix_spawn instead of libuv's fork(). Where it is missing (no C compiler at build
// time, another libc or platform) or the kernel has no pidfd, wq uses node:child_process: same contract,
// more CPU per message.

/** [pid, stdin fd still to write (-1: all written and closed), bytes of the body already written] */
export type NativeStarted = [pid: number, stdinFd: number, written: number];
/** What a start gives: the child, or a negative errno when nothing was started. */
export type NativeResult = NativeStarted | number;

/**
 * A child's exit: code >= 0 and signal 0, or code -1 and the signal number. `successor` is the armed
 * command this exit started, with its result, started before this callback ran.
 */
export type NativeExit = (code: number, signal: number, successor?: [id: number, result: NativeResult]) => void;

/** Environment strings converted once (envBase): a command made with one gets them, then its own envp. */
export type NativeEnvBase = { readonly __nativeEnvBase: unique symbol };

export interface NativeSpawn {
  spawn(path: string, argv: string[], envp: string[], body: Buffer, onExit: NativeExit, base?: NativeEnvBase): NativeResult;
  /** Queue a command to start the moment a running child exits with status 0 (in arming order). */
  arm(id: number, path: string, argv: string[], envp: string[], body: Buffer, onExit: NativeExit, base?: NativeEnvBase): void;
  envBase(envp: readonly string[]): NativeEnvBase;
  /** Take an armed command back: false when it was started already, or never armed. */
  disarm(id: number): boolean;
  /** This child's exit starts nothing (it is being stopped). */
  noSuccessor(pid: number): void;
  available(): boolean;
}

export type SpawnMode = 'auto' | 'native' | 'child_process';
export const SPAWN_MODES: readonly SpawnMode[] = ['auto', 'native', 'child_process'];

const ADDON_FILE = 'wq-spawn.node';

/** The addon next to this bundle (dist/), or `file`; or, when it cannot be used, the reason why. */
export function loadNativeSpawn(file: string | URL = new URL(`./${ADDON_FILE}`, import.meta.url)): NativeSpawn | string {
  if (process.platform !== 'linux') return `${process.platform} is not Linux`;
  try {
    const addon = createRequire(import.meta.url)(file instanceof URL ? fileURLToPath(file) : file) as NativeSpawn;
    return addon.available() ? addon : 'the kernel refuses pidfd_open (Linux < 5.3, or a seccomp profile)';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? `${ADDON_FILE} was not built` : (err as Error).message;
  }
}
