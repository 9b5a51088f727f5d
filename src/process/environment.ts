/**
 * A command's environment: the run's base, made once (wq-consume's own variables minus what a command
 * must not inherit), and one message's variables over it. Both ways of starting a command read it: the
 * addon as "NAME=value" strings, node:child_process as an object. The base's strings are made once, so a
 * start costs the message's few variables, not a copy of the whole environment (docs/performance.md).
 */
export class Environment {
  private constructor(
    private readonly base: Readonly<Record<string, string>>,
    private readonly baseStrings: readonly string[],
    private readonly vars: Readonly<Record<string, string>>,
  ) {}

  /** `env` without the variables named in `omit` (undefined values are left out too). */
  static of(env: Readonly<Record<string, string | undefined>>, omit: Iterable<string> = []): Environment {
    const left = new Set(omit);
    // fromEntries makes every name an own key, `__proto__` too (an assignment would set the prototype).
    const base = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !left.has(e[0])));
    return new Environment(base, Object.entries(base).map(([name, value]) => `${name}=${value}`), {});
  }

  /** The same base with `vars` over it; a name in both has the value in `vars`. */
  with(vars: Readonly<Record<string, string>>): Environment {
    return new Environment(this.base, this.baseStrings, { ...this.vars, ...vars });
  }

  /** As an object (node:child_process). */
  record(): Record<string, string> {
    return { ...this.base, ...this.vars };
  }

  /** As "NAME=value" strings, each name once (the addon). */
  strings(): string[] {
    const own = Object.keys(this.vars);
    const shadowed = own.some((name) => Object.hasOwn(this.base, name));
    const base = shadowed ? this.baseStrings.filter((s) => !Object.hasOwn(this.vars, s.slice(0, s.indexOf('=')))) : this.baseStrings;
    return base.concat(own.map((name) => `${name}=${this.vars[name]}`));
  }
}
