import { describe, expect, it } from 'vitest';
import { codeLines, pages, read } from './markdown.js';

// The front page stays short, the reference pages stay readable, and what "Try it" asks a newcomer to
// run is what CI and the test suite run.

/** Each command that README's "Try it" may show, and where the project runs it. */
const RUN = {
  'npm ci && npm test': () => {
    const ci = read('.ci/run').split('\n').map((l) => l.trim());
    expect(ci.some((l) => l.startsWith('npm ci'))).toBe(true);
    expect(ci.some((l) => /^npm test\b/.test(l))).toBe(true);
  },
  'npm ci && npm run demo': () => {
    // npm run demo builds and runs dist/wq-demo.mjs; test/demo/ runs that same file end to end.
    expect(JSON.parse(read('package.json')).scripts.demo).toBe('npm run build && node dist/wq-demo.mjs');
    expect(read('test/demo/demo.test.ts')).toMatch(/cli\('wq-demo', \[\]\)/);
  },
} as const;

describe('README.md', () => {
  it('is at most 250 lines', () => {
    expect(read('README.md').trimEnd().split('\n').length).toBeLessThanOrEqual(250);
  });

  it('shows under "Try it" only commands that CI or the test suite runs', () => {
    const shown = codeLines(read('README.md'))
      .filter((c) => /^## Try it/.test(c.heading))
      .map((c) => c.line.replace(/\s+#.*$/, '').trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(shown.length).toBeGreaterThan(0);
    for (const command of shown) {
      expect(Object.keys(RUN), `"${command}" is not a command CI or the suite runs`).toContain(command);
      RUN[command as keyof typeof RUN]();
    }
  });
});

describe('docs/', () => {
  for (const page of pages().filter((p) => p.startsWith('docs/'))) {
    it(`${page} is at most 400 lines`, () => {
      expect(read(page).trimEnd().split('\n').length).toBeLessThanOrEqual(400);
    });
  }

  it('holds one page per concern', () => {
    const want = ['consume', 'publish', 'kubernetes', 'reliability', 'image', 'performance', 'development', 'errors'].map((p) => `docs/${p}.md`);
    expect(pages()).toEqual(expect.arrayContaining(want));
  });
});
