import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/publish/progress.js';

const stats = (confirmed: number, nacked = 0, returned = 0) => ({ published: confirmed + nacked, confirmed, nacked, returned, lost: 0 });

describe('the terminal progress line', () => {
  it('shows a bar and a percentage when the input size is known', () => {
    expect(progressLine(stats(50_000), { done: 500, total: 1000 }, 12_345.6, 120)).toBe('[############------------]  50% 50,000 confirmed, 12,346 msg/s');
  });

  it('shows counts and the rate alone for stdin, and counts refused messages', () => {
    expect(progressLine(stats(10, 3, 2), { done: 99, total: undefined }, 0, 120)).toBe('8 confirmed, 5 refused, 0 msg/s');
  });

  it('fits the terminal width', () => {
    expect(progressLine(stats(1), { done: 1, total: 2 }, 1, 20)).toHaveLength(19);
  });
});
