/**
 * Milliseconds from a monotonic clock, like performance.now(), without what that global costs: its
 * first use loads perf_hooks and eight internal modules at every start (bench/README.md).
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
