import type { ConsumeConfig } from '../config/consume.js';

/** --retry-delay, doubled per attempt up to --retry-delay-max when that is set. */
export function retryDelaySeconds(config: Pick<ConsumeConfig, 'retryDelaySeconds' | 'retryDelayMaxSeconds'>, attempts: number): number {
  const base = config.retryDelaySeconds;
  if (base <= 0) return 0;
  if (config.retryDelayMaxSeconds <= base) return base;
  return Math.min(base * 2 ** Math.max(0, attempts - 1), config.retryDelayMaxSeconds);
}
