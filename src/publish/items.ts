import { closeSync, createReadStream, fstatSync, openSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { ItemSource } from '../config/publish.js';

/**
 * Called once per message. Return a promise only when the caller must wait (a full confirm window,
 * socket backpressure): the reader then pauses, so memory stays bounded however long the input is.
 */
export type OnItem = (body: Buffer) => Promise<void> | undefined;

/**
 * The largest item the broker takes (undefined while unknown), and the refusal of a larger one, which the
 * reader meets before its end: it throws that error, or, for an item --skip passes over (undefined),
 * reads on to its end without keeping it. Memory stays bounded by it even on input with no line end.
 */
export interface ItemLimit {
  maxBytes(): number | undefined;
  oversized(atLeast: number): Error | undefined;
}

/** How far the reader got, for the progress bar. total is undefined when unknown (stdin). */
export interface ReadProgress {
  done: number;
  total: number | undefined;
}

// Line mode, the rules docs/publish.md "Items" documents: each line is one message, bytes as they are
// (no decoding); the line ending (\n or \r\n) is stripped; empty lines are skipped; a last line
// without a newline still counts. amqp-publish -l differs: it keeps the \n and publishes empty lines.
export async function readLines(stream: AsyncIterable<Buffer>, onItem: OnItem, progress?: ReadProgress, limit?: ItemLimit): Promise<void> {
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false; // the rest of an item too large to keep, which --skip passes over
  let base = 0; // bytes before this chunk; progress counts the bytes handed on, not the bytes read ahead
  for await (const chunk of stream) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line = chunk.subarray(start, nl);
      start = nl + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      if (carry.length > 0) {
        carry.push(line);
        line = Buffer.concat(carry);
        carry = [];
        carried = 0;
      }
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      if (end === 0) continue;
      if (progress) progress.done = base + start;
      const wait = onItem(end === line.length ? line : line.subarray(0, end));
      if (wait) await wait;
    }
    if (start < chunk.length && !skipping) {
      carry.push(chunk.subarray(start));
      carried += chunk.length - start;
      skipping = tooLarge(carried, limit, 1); // 1: a CRLF line's CR is not the item's
      if (skipping) {
        carry = [];
        carried = 0;
      }
    }
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
export async function readItems(source: ItemSource, onItem: OnItem, progress: ReadProgress, stop: AbortSignal, limit?: ItemLimit, stdin: Readable = process.stdin): Promise<void> {
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
      // Whole files, one message each, bytes intact (held in memory one at a time); one too large is
      // refused from its size, before it is read.
      for (const path of source.paths) {
        const body = path === '-' ? await readAll(addAbortSignal(stop, stdin), limit) : await readFileWithin(path, limit, stop);
        const wait = body && onItem(body);
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
      return readLines(addAbortSignal(stop, stdin), onItem, progress, limit);
    case 'file':
      return readLines(addAbortSignal(stop, createReadStream(source.path, { highWaterMark: 256 * 1024 })), onItem, progress, limit);
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

/** A --body-file: a regular file refused from its size before it is read; a pipe or device read within the limit. */
async function readFileWithin(path: string, limit: ItemLimit | undefined, stop: AbortSignal): Promise<Buffer | undefined> {
  const stat = statSync(path);
  if (!stat.isFile()) return readAll(addAbortSignal(stop, createReadStream(path)), limit);
  return tooLarge(stat.size, limit) ? undefined : readFile(path);
}

/** The whole stream; undefined when it was too large for the broker and --skip passes over it. */
async function readAll(stream: AsyncIterable<Buffer>, limit: ItemLimit | undefined): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let skipped = false;
  for await (const chunk of stream) {
    if (skipped) continue; // read to its end, not kept
    chunks.push(chunk);
    size += chunk.length;
    skipped = tooLarge(size, limit);
  }
  return skipped ? undefined : Buffer.concat(chunks);
}

/** True when `size` is over the limit and the item is skipped; throws the refusal when it is not. */
function tooLarge(size: number, limit: ItemLimit | undefined, slack = 0): boolean {
  const max = limit?.maxBytes();
  if (max === undefined || size <= max + slack) return false;
  const refusal = limit!.oversized(size - slack);
  if (refusal) throw refusal;
  return true;
}
