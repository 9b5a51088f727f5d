import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory, removed after the file. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wq-test-'));
  dirs.push(d);
  return d;
}

/** What record.sh wrote: one entry per run, oldest first, with the body and the WQ_* variables. */
export function recorded(dir: string): Array<{ body: Buffer; env: Record<string, string> }> {
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.env'))
    .sort()
    .map((f) => ({
      body: readFileSync(join(dir, f)),
      env: Object.fromEntries(
        readFileSync(join(dir, `${f}.env`), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
    }));
}

/** Is a process with this pid alive (running, not a zombie waiting for its reaper)? */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
