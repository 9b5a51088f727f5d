// The command's environment: the run's base (wq-consume's own, computed once) plus a few variables per
// message. What the command gets is exactly `{ ...base, ...perMessage }`; only the way there is cheaper:
// the native spawn takes envp strings, and the base's strings are made once per run instead of once per
// message (copying and joining ~40 variables cost ~15-30 µs a message here, bench/README.md).

/** One message's environment, in the two shapes the two ways of starting a command need. */
export interface CommandEnv {
  /** For node:child_process. */
  object(): NodeJS.ProcessEnv;
  /**
   * `NAME=value` strings for the native spawn, in two parts: `base`, the same array for every message of
   * a run (the addon converts it once), then this message's own strings.
   */
  envpParts(): { base: readonly string[]; own: string[] };
}

const NO_BASE: readonly string[] = Object.freeze([]);

/**
 * @param keys every name `perMessage` may hold: the base's own value of such a name is kept aside, so that
 *   a message's value replaces it and its absence leaves it, as the object spread does.
 */
export function commandEnvFactory(base: NodeJS.ProcessEnv, keys: readonly string[]): (perMessage: Record<string, string>) => CommandEnv {
  const overridable = new Set(keys);
  const fixed: string[] = [];
  const shadowed: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    if (overridable.has(key)) shadowed.push([key, value]);
    else fixed.push(`${key}=${value}`);
  }
  const own = (perMessage: Record<string, string>): string[] => {
    const out: string[] = [];
    for (const key in perMessage) out.push(`${key}=${perMessage[key]}`);
    for (const [key, value] of shadowed) if (!(key in perMessage)) out.push(`${key}=${value}`);
    return out;
  };
  return (perMessage) => ({
    object: () => ({ ...base, ...perMessage }),
    envpParts: () => ({ base: fixed, own: own(perMessage) }),
  });
}

/** A plain environment object as a CommandEnv (tests, callers with no per-run base). */
export function plainCommandEnv(env: NodeJS.ProcessEnv): CommandEnv {
  const own = (): string[] => {
    const out: string[] = [];
    for (const key in env) if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
    return out;
  };
  return { object: () => env, envpParts: () => ({ base: NO_BASE, own: own() }) };
}
