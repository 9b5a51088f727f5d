// Markdown tables for RESULTS.md and the console.

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A ratio row: measured median (min-max of the per-round ratios) against its target. */
export function ratioRow(what, ratios, target, meets) {
  if (!ratios.length) return [what, 'n/a', target, 'n/a'];
  const sorted = [...ratios].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const m = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const digits = m >= 10 ? 0 : 2;
  const spread = sorted.length > 1 ? ` (${sorted[0].toFixed(digits)}-${sorted.at(-1).toFixed(digits)})` : '';
  return [what, `${m.toFixed(digits)}${spread}`, target, meets === undefined ? '' : meets(m) ? 'yes' : '**no**'];
}
