// Run one contender process to completion and measure it: wall time from spawn to exit (here, high
// resolution), CPU time and peak RSS from GNU time's rusage of the process (CPU in 10 ms steps).
// Its stderr goes to a file, as a container runtime writes a pod's logs: read through a pipe, every log
// line would wake this harness, whose CPU the contenders then share (wq-consume logs a line a message,
// amqp-consume none).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/**
 * @param {string[]} argv
 * @param {{ env?: NodeJS.ProcessEnv, statsDir: string, lines?: number, markLine?: number, timeoutMs?: number }} opts
 *   lines: count newlines on stdout and record when the Nth arrived (drain throughput); markLine: also
 *   when that many had (markLineMs: the start of the steady state)
 */
export function runTimed(argv, { env = process.env, statsDir, lines, markLine, timeoutMs = 600_000 }) {
  const statsFile = join(statsDir, 'time.txt');
  const stderrFile = join(statsDir, 'stderr.txt');
  rmSync(statsFile, { force: true });
  const stderrFd = openSync(stderrFile, 'w');
  const full = GNU_TIME ? [GNU_TIME, '-f', '%U %S %M', '-o', statsFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(full[0], full.slice(1), { env, stdio: ['ignore', lines ? 'pipe' : 'ignore', stderrFd] });
    closeSync(stderrFd);
    let seen = 0;
    let lastLineMs;
    let markLineMs;
    child.stdout?.on('data', (chunk) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) seen++;
      if (markLineMs === undefined && markLine !== undefined && seen >= markLine) markLineMs = performance.now() - started;
      if (lastLineMs === undefined && seen >= lines) lastLineMs = performance.now() - started;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - started;
      clearTimeout(timer);
      let cpuMs;
      let rssMb;
      if (GNU_TIME && existsSync(statsFile)) {
        // The last line holds the figures ("Command exited with non-zero status N" may come first).
        const last = readFileSync(statsFile, 'utf8').trim().split('\n').pop() ?? '';
        const [user, sys, rssKb] = last.split(' ').map(Number);
        if ([user, sys, rssKb].every(Number.isFinite)) {
          cpuMs = (user + sys) * 1000;
          rssMb = rssKb / 1024;
        }
      }
      const stderr = readFileSync(stderrFile, 'utf8').slice(-65_536);
      resolve({ code, signal, wallMs, cpuMs, rssMb, stderr, lines: seen, lastLineMs, markLineMs });
    });
  });
}

/** Throw with the contender's own stderr when it did not exit 0. */
export function expectOk(name, result) {
  if (result.code !== 0) {
    throw new Error(`${name} exited with ${result.code ?? result.signal}:\n${result.stderr.slice(-2000)}`);
  }
  return result;
}
