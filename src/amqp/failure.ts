// The shape every failure mapper reads (failures.ts builds it). It imports nothing, so the mappers
// (reply-codes.ts, access-refused.ts, transport-failures.ts) depend on it and not on failures.ts.

/** What we were doing when it failed; the sentences name it. */
export interface FailureContext {
  url: string;
  /** connect, queue.declare, basic.publish, basic.consume, ... */
  operation: string;
  queue?: string;
  exchange?: string;
}

/** What a mapper gets: the context, the redacted raw text, and the URL's parts for sentences. */
export interface Failure extends FailureContext {
  raw: unknown;
  detail: string;
  safeUrl: string;
  user: string;
  vhost: string;
  host: string;
  port: string;
  scheme: string;
}
