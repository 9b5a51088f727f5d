import { nowMs } from '../process/clock.js';
import type { Settled } from './settle.js';

// The account of a run (docs/consume.md "Logs"): what happened to each message, and how long the
// command took. Durations are kept only as numbers; a drain of 100,000 messages holds 800 KB of them.
export class RunStats {
  processed = 0;
  acked = 0;
  retried = 0;
  deadLettered = 0;
  handedBack = 0;
  /** Replaced by a fresh copy, no attempt spent: one the broker counted as returned, a start short of a resource, a result the broker would not take. */
  refreshed = 0;
  /** Sessions that followed a lost connection (consume.ts). */
  reconnects = 0;
  private readonly durations: number[] = [];
  private readonly startedAt = nowMs();

  commandEnded(durationMs: number): void {
    this.processed++;
    this.durations.push(durationMs);
  }

  count(settled: Settled): void {
    if (settled === 'acked') this.acked++;
    else if (settled === 'retried') this.retried++;
    else if (settled === 'dead-lettered') this.deadLettered++;
    else if (settled === 'handed-back' || settled === 'stale') this.handedBack++;
    else if (settled === 'refreshed') this.refreshed++;
  }

  /** Messages whose fate was decided on purpose (acked, retried, dead-lettered): what --count counts. */
  settledOnPurpose(): number {
    return this.acked + this.retried + this.deadLettered;
  }

  /** Messages this run settled in any way (a run's account is told when over one). */
  messages(): number {
    return messagesIn(this.summary());
  }

  /** Log fields for the summary line. */
  summary(): Record<string, number> {
    const sorted = [...this.durations].sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number) : 0);
    return {
      processed: this.processed,
      acked: this.acked,
      retried: this.retried,
      deadLettered: this.deadLettered,
      handedBack: this.handedBack,
      refreshed: this.refreshed,
      reconnects: this.reconnects,
      durationP50Ms: at(0.5),
      durationP95Ms: at(0.95),
      durationMaxMs: sorted.length ? Math.round(sorted[sorted.length - 1] as number) : 0,
      wallMs: Math.round(nowMs() - this.startedAt),
    };
  }
}

/** The fates a summary counts, one per message: the messages a run settled in any way. */
export function messagesIn(summary: Record<string, number>): number {
  return ['acked', 'retried', 'deadLettered', 'handedBack', 'refreshed'].reduce((n, k) => n + (summary[k] ?? 0), 0);
}
