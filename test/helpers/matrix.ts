/** The queue types a contract test runs on: describe.each(QUEUE_TYPES)('on a %s queue', (type, queueArgs) => ...). */
export const QUEUE_TYPES = [
  ['classic', {}],
  ['quorum', { 'x-queue-type': 'quorum' }],
] as const;

/** The two ways wq-consume starts a command, as the environment that picks each. */
export const SPAWNS = [
  ['the native spawn', {}],
  ['node:child_process', { WQ_SPAWN: 'child_process' }],
] as const;
