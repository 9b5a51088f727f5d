import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CommandError } from '../errors.js';

// Find the command before touching the queue: a missing or non-executable command must not cost a
// message a delivery. Mirrors the shell: 127 not found, 126 found but not executable.
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? ''): string {
  if (command.includes('/')) {
    checkExecutable(command, command);
    return command;
  }
  let nonExecutable: string | undefined;
  for (const dir of pathEnv.split(delimiter)) {
    const candidate = join(dir || '.', command);
    if (!isFile(candidate)) continue;
    if (isExecutable(candidate)) return candidate;
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
