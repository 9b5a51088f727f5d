import type { OptionSpec } from '../src/config/args.js';

/** The flag as --help shows it: `-c, --count N`, `--[no-]declare`. */
export function flagText(spec: Pick<OptionSpec, 'name' | 'short' | 'arg' | 'negatable'>): string;
/** The default an option's help names, else off (a flag) or none. */
export function optionDefault(help: string, type?: 'string' | 'boolean'): string;
/** The environment variables an option's help names, else []. */
export function optionEnv(help: string): string[];
/** One table per group, in --help's order; every option once. */
export function renderOptions(specs: readonly OptionSpec[], order?: readonly string[]): string;
export function marker(name: string, end?: boolean): string;
/** The text between a file's two markers for `name`; undefined when it has none. */
export function between(text: string, name: string): string | undefined;
/** The file's text with `content` between the markers for `name`. */
export function replaceBetween(text: string, name: string, content: string): string;
export const TABLES: { name: string; file: string; specs: 'CONSUME_OPTIONS' | 'PUBLISH_OPTIONS'; order: 'CONSUME_GROUPS' | 'PUBLISH_GROUPS' }[];
