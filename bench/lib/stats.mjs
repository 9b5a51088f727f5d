// Medians and ranges over noisy samples; every figure in RESULTS.md is a median with its min-max.

export function median(xs) {
  const s = xs.filter((x) => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Mean: CPU times come in 10 ms steps, so their mean says more than their median. */
export function mean(xs) {
  const s = xs.filter((x) => x !== undefined && Number.isFinite(x));
  return s.length ? s.reduce((a, b) => a + b, 0) / s.length : undefined;
}

export function range(xs) {
  const s = xs.filter((x) => x !== undefined && Number.isFinite(x));
  return s.length ? [Math.min(...s), Math.max(...s)] : [undefined, undefined];
}

/** "123.4 (110.2-150.9)" with the given digits. */
export function mmm(xs, digits = 1) {
  const m = median(xs);
  if (m === undefined) return 'n/a';
  const [lo, hi] = range(xs);
  return `${m.toFixed(digits)} (${lo.toFixed(digits)}${lo < 0 ? ' to ' : '-'}${hi.toFixed(digits)})`;
}

/** Per-round ratios a[i]/b[i] of paired samples (same round, alternating order). */
export function pairedRatios(a, b) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== undefined && b[i]) out.push(a[i] / b[i]);
  return out;
}

/** Rotate the contender order every round so none always runs first or right after another. */
export function rotated(list, round) {
  const k = round % list.length;
  const order = [...list.slice(k), ...list.slice(0, k)];
  return Math.floor(round / list.length) % 2 ? order.reverse() : order;
}
