import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CommandError } from '../errors.js';

// Find the command before touching the queue: a missing or non-executable command must not cost a
// message a delivery. Mirrors the shell: 127 not found, 126 found but not executable.
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? ''): string {
  if (command.includes('/')) {
    checkExecutable(command, command);
    checkInterpreter(command, command);
    return command;
  }
  let nonExecutable: string | undefined;
  for (const dir of pathEnv.split(delimiter)) {
    // Always with a slash ("./echo" for an empty or "." entry): without one, /bin/sh would run its own
    // builtin of that name (node:child_process starts the command through it), not this file.
    const joined = join(dir || '.', command);
    const candidate = joined.includes('/') ? joined : `./${joined}`;
    if (!isFile(candidate)) continue;
    if (isExecutable(candidate)) {
      checkInterpreter(candidate, command);
      return candidate;
    }
    nonExecutable ??= candidate;
  }
  if (nonExecutable) {
    throw new CommandError('COMMAND_NOT_EXECUTABLE', `command "${command}" (${nonExecutable}) is not executable. Run chmod +x on it, or name an interpreter first (e.g. -- python3 ${command}).`);
  }
  throw new CommandError('COMMAND_NOT_FOUND', `command "${command}" was not found in PATH. Check the name after "--", or give its full path.`);
}

function checkExecutable(path: string, command: string): void {
  if (isDirectory(path)) {
    throw new CommandError('COMMAND_NOT_EXECUTABLE', `command "${command}" is a directory, not an executable. Check the path after "--".`);
  }
  if (!isFile(path)) {
    throw new CommandError('COMMAND_NOT_FOUND', `command "${command}" was not found (no such file). Check the path after "--".`);
  }
  if (!isExecutable(path)) {
    throw new CommandError('COMMAND_NOT_EXECUTABLE', `command "${command}" is not executable. Run chmod +x on it, or name an interpreter first (e.g. -- python3 ${command}).`);
  }
}

// A script runs through the interpreter its #! line names: one that is missing fails every message's
// start after the message was taken. The usual cause is a file saved with Windows line ends, whose "\r"
// ends the interpreter's name (or its argument: "python3\r").
function checkInterpreter(path: string, command: string): void {
  const line = firstLine(path);
  if (!line?.startsWith('#!')) return;
  if (line.endsWith('\r')) {
    throw new CommandError('COMMAND_NOT_FOUND', `command "${command}" has Windows line ends: its #! line, ${JSON.stringify(line)}, names a program whose name ends in "\\r", which does not exist. Convert it (dos2unix ${command}, or sed -i 's/\\r$//' ${command}).`);
  }
  const interpreter = line.slice(2).trim().split(/[ \t]/)[0] ?? '';
  if (interpreter === '' || isExecutable(interpreter)) return;
  const [code, what] = isFile(interpreter) ? (['COMMAND_NOT_EXECUTABLE', 'is not executable'] as const) : (['COMMAND_NOT_FOUND', 'was not found'] as const);
  throw new CommandError(code, `command "${command}" names the interpreter ${interpreter} in its #! line, which ${what}. Install it, or fix that line.`);
}

/** The file's first line, of `max` bytes at most (256: as the kernel reads a #! line), as latin1 (byte for byte), or undefined if it cannot be read. */
export function firstLine(path: string, max = 256): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(max);
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
    const end = text.indexOf('\n');
    return end < 0 ? text : text.slice(0, end);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
