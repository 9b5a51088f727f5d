import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { ItemSource } from '../config/publish.js';

/**
 * Called once per message. Return a promise only when the caller must wait (a full confirm window,
 * socket backpressure): the reader then pauses, so memory stays bounded however long the input is.
 */
export type OnItem = (body: Buffer) => Promise<void> | undefined;

/** How far the reader got, for the progress bar. total is undefined when unknown (stdin). */
export interface ReadProgress {
  done: number;
  total: number | undefined;
}

// Line mode, the rules docs/publish.md "Items" documents: each line is one message, bytes as they are
// (no decoding); the line ending (\n or \r\n) is stripped; empty lines are skipped; a last line
// without a newline still counts. amqp-publish -l differs: it keeps the \n and publishes empty lines.
export async function readLines(stream: AsyncIterable<Buffer>, onItem: OnItem, progress?: ReadProgress): Promise<void> {
  let carry: Buffer[] = [];
  let base = 0; // bytes before this chunk; progress counts the bytes handed on, not the bytes read ahead
  for await (const chunk of stream) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line = chunk.subarray(start, nl);
      start = nl + 1;
      if (carry.length > 0) {
        carry.push(line);
        line = Buffer.concat(carry);
        carry = [];
      }
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      if (end === 0) continue;
      if (progress) progress.done = base + start;
      const wait = onItem(end === line.length ? line : line.subarray(0, end));
      if (wait) await wait;
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
    base += chunk.length;
  }
  if (progress) progress.done = base;
  if (carry.length > 0) {
    const line = Buffer.concat(carry);
    const end = line[line.length - 1] === 13 ? line.length - 1 : line.length;
    if (end > 0) {
      const wait = onItem(line.subarray(0, end));
      if (wait) await wait;
    }
  }
}

/** Check the source before connecting (a wrong --file path fails at once, exit 64) and size it for the progress bar. */
export function openProgress(source: ItemSource): ReadProgress {
  if (source.kind === 'file') return { done: 0, total: fileSize(source.path, '--file') };
  if (source.kind === 'args') return { done: 0, total: source.items.length };
  if (source.kind === 'body') return { done: 0, total: 1 };
  if (source.kind === 'files') {
    for (const path of source.paths) if (path !== '-') fileSize(path, '--body-file');
    return { done: 0, total: source.paths.length };
  }
  return { done: 0, total: undefined };
}

/** Feed every message of the source to onItem, in order. `stop` ends a read that waits for input (stdin that stays open). */
export async function readItems(source: ItemSource, onItem: OnItem, progress: ReadProgress, stop: AbortSignal, stdin: Readable = process.stdin): Promise<void> {
  switch (source.kind) {
    case 'none':
      return;
    case 'body': {
      const wait = onItem(Buffer.from(source.body));
      if (wait) await wait;
      progress.done = 1;
      return;
    }
    case 'files': {
      // Whole files, one message each, bytes intact (held in memory one at a time).
      for (const path of source.paths) {
        const wait = onItem(path === '-' ? await readAll(addAbortSignal(stop, stdin)) : await readFile(path));
        if (wait) await wait;
        progress.done++;
      }
      return;
    }
    case 'args': {
      for (const item of source.items) {
        const wait = onItem(Buffer.from(item));
        if (wait) await wait;
        progress.done++;
      }
      return;
    }
    case 'stdin':
      return readLines(addAbortSignal(stop, stdin), onItem, progress);
    case 'file':
      return readLines(addAbortSignal(stop, createReadStream(source.path, { highWaterMark: 256 * 1024 })), onItem, progress);
  }
}

/** The file's size (undefined for a pipe), checked before connecting so a wrong path fails at once with exit 64. */
function fileSize(path: string, flag: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return stat.isFile() ? stat.size : undefined;
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the path and its permissions.`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
