import { setTimeout as sleep } from 'node:timers/promises';

/** Poll until check() holds; fail with `what` after timeoutMs. For conditions, never for timing. */
export async function waitFor(check: () => boolean | Promise<boolean>, what = 'a condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
