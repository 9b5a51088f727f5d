// The options tables of docs/consume.md and docs/publish.md, rendered from the option tables that --help
// prints (CONSUME_OPTIONS, PUBLISH_OPTIONS in src/config). Pure functions: scripts/docs.mjs writes them
// between the markers, test/docs/ checks that what is there is what they give.

/** The flag as --help shows it: `-c, --count N`, `--[no-]declare`. */
export function flagText(spec) {
  return `${spec.short ? `-${spec.short}, ` : ''}--${spec.negatable ? '[no-]' : ''}${spec.name}${spec.arg ? ` ${spec.arg}` : ''}`;
}

/** The default an option's help names ("default 20", "default: wait forever"), else off (a flag) or none. */
export function optionDefault(help, type = 'string') {
  const m = /\bdefault:? (.+?)(?:; |: |\)|$)/.exec(help);
  if (m) return m[1].trim();
  return type === 'boolean' ? 'off' : 'none';
}

/** The environment variables an option's help names ("env BROKER_URL, then AMQP_URL"), else []. */
export function optionEnv(help) {
  const m = /\benv ([A-Z_]+(?:, then [A-Z_]+)*)/.exec(help);
  return m ? m[1].split(', then ') : [];
}

const cell = (text) => text.replaceAll('|', '\\|');
const code = (text) => `\`${cell(text)}\``;

/** One table per group, in --help's order; every option once. */
export function renderOptions(specs, order = []) {
  const groups = [...new Set([...order, ...specs.map((s) => s.group ?? 'Options')])];
  const parts = [];
  for (const group of groups) {
    const members = specs.filter((s) => (s.group ?? 'Options') === group);
    if (members.length === 0) continue;
    parts.push(`**${group}**`, '', '| option | default | environment | meaning |', '| --- | --- | --- | --- |');
    for (const s of members) {
      const env = optionEnv(s.help);
      parts.push(`| ${code(flagText(s))} | ${code(optionDefault(s.help, s.type))} | ${env.length ? env.map(code).join(', then ') : '—'} | ${cell(s.help)} |`);
    }
    parts.push('');
  }
  return parts.join('\n').trimEnd();
}

export const marker = (name, end = false) => `<!-- generated: ${name} ${end ? 'end' : 'begin'} (npm run docs) -->`;

/** The text between a file's two markers for `name`; undefined when it has none. */
export function between(text, name) {
  const begin = text.indexOf(marker(name));
  const end = text.indexOf(marker(name, true));
  if (begin === -1 || end === -1 || end < begin) return undefined;
  return text.slice(begin + marker(name).length, end).trim();
}

/** The file's text with `content` between the markers for `name`. */
export function replaceBetween(text, name, content) {
  const begin = text.indexOf(marker(name));
  const end = text.indexOf(marker(name, true));
  if (begin === -1 || end === -1 || end < begin) throw new Error(`no markers for "${name}": ${marker(name)} ... ${marker(name, true)}`);
  return `${text.slice(0, begin)}${marker(name)}\n\n${content}\n\n${text.slice(end)}`;
}

/** Where each generated table goes: the option table and its group order, both from src/config/. */
export const TABLES = [
  { name: 'consume options', file: 'docs/consume.md', specs: 'CONSUME_OPTIONS', order: 'CONSUME_GROUPS' },
  { name: 'publish options', file: 'docs/publish.md', specs: 'PUBLISH_OPTIONS', order: 'PUBLISH_GROUPS' },
];
