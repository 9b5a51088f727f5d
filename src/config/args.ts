import { UsageError } from '../errors.js';

// A small argv parser shared by both CLIs. Unlike node:util parseArgs it can stop at the
// first positional (everything from there on is the command, untouched), and it costs nothing to load.
export interface OptionSpec {
  /** Long name without dashes, e.g. "queue". */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** Repeatable: values collect into an array. */
  multiple?: boolean;
  /** Boolean with a --no-NAME form. */
  negatable?: boolean;
  /** Value placeholder for --help. */
  arg?: string;
  help: string;
  /** The heading --help lists it under, e.g. "Connection". */
  group?: string;
}

/** What a CLI's argv asks for. */
export type CliRequest<C> = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: C };

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: ParsedValues;
  positionals: string[];
}

export function parseArgv(argv: readonly string[], specs: readonly OptionSpec[], stopAtPositional: boolean): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const values: ParsedValues = {};
  const positionals: string[] = [];
  // What an unknown option may really be: the command's own (wq-consume), or an item (wq-publish).
  const afterDashes = stopAtPositional ? '; put the command after "--"' : '; an item that starts with "-" goes after "--"';

  // An option with a value that is not repeatable, given twice, is a usage error: a second --file must not
  // silently replace the first. A flag may come again, the last one wins (--declare ... --no-declare).
  const given = new Set<string>();
  const set = (spec: OptionSpec, value: string | boolean) => {
    if (!spec.multiple && spec.type === 'string' && given.has(spec.name)) {
      const flag = `${spec.short ? `-${spec.short}/` : ''}--${spec.name}`;
      throw new UsageError(`${flag} was given twice: give it once (only the options --help calls repeatable can be given more than once).`);
    }
    given.add(spec.name);
    if (spec.multiple) {
      const list = (values[spec.name] as string[] | undefined) ?? [];
      list.push(String(value));
      values[spec.name] = list;
    } else {
      values[spec.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      let spec = byLong.get(name);
      if (!spec && name.startsWith('no-')) {
        const base = byLong.get(name.slice(3));
        if (base?.negatable) {
          if (eq !== -1) throw new UsageError(`option --${name} takes no value. Run with --help for usage.`);
          set(base, false);
          continue;
        }
      }
      if (!spec) throw new UsageError(`unknown option --${name}. Run with --help for usage${afterDashes}.`);
      if (spec.type === 'boolean') {
        if (eq !== -1) throw new UsageError(`option --${name} takes no value. Run with --help for usage.`);
        set(spec, true);
      } else if (eq !== -1) {
        set(spec, arg.slice(eq + 1));
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`option --${name} needs a value (${spec.arg ?? 'VALUE'}).`);
        set(spec, argv[++i] as string);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      const spec = byShort.get(arg[1] as string);
      if (!spec) throw new UsageError(`unknown option ${arg}. Run with --help for usage${afterDashes}.`);
      if (spec.type === 'boolean') {
        if (arg.length > 2) throw new UsageError(`option -${spec.short} takes no value. Run with --help for usage.`);
        set(spec, true);
      } else if (arg.length > 2) {
        set(spec, arg.slice(2));
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`option -${spec.short} needs a value (${spec.arg ?? 'VALUE'}).`);
        set(spec, argv[++i] as string);
      }
      continue;
    }
    if (stopAtPositional) {
      positionals.push(...argv.slice(i));
      break;
    }
    positionals.push(arg);
  }
  return { values, positionals };
}

/**
 * The options part of --help: a heading per group, in `order` (groups it does not name follow, so no
 * option is ever left out), one aligned line per option. Called only when --help is asked for.
 */
export function formatOptions(specs: readonly OptionSpec[], order: readonly string[] = []): string {
  const rows = specs.map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${s.negatable ? '[no-]' : ''}${s.name}${s.arg ? ` ${s.arg}` : ''}`;
    return { group: s.group ?? 'Options', flag, help: s.help };
  });
  const width = Math.max(...rows.map((r) => r.flag.length)) + 2;
  const groups = [...new Set([...order, ...rows.map((r) => r.group)])];
  return groups
    .map((g) => [g, rows.filter((r) => r.group === g)] as const)
    .filter(([, members]) => members.length > 0)
    .map(([g, members]) => `${g}:\n${members.map((r) => `  ${r.flag.padEnd(width)}${r.help}`).join('\n')}`)
    .join('\n\n');
}
