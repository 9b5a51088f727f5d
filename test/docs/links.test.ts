import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { anchors, pages, read, relativeLinks } from './markdown.js';

// Every relative link in README.md and docs/ leads somewhere: the file exists, and an #anchor names a
// heading of the Markdown page it points to.
describe('links', () => {
  for (const page of pages()) {
    it(`every relative link in ${page} resolves`, () => {
      const broken: string[] = [];
      for (const link of relativeLinks(read(page))) {
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)));
        if (target.startsWith('..') || !existsSync(join(ROOT, target))) {
          broken.push(`${link}: no file ${target}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!target.endsWith('.md') || statSync(join(ROOT, target)).isDirectory()) {
          broken.push(`${link}: an anchor into a file that is not Markdown`);
        } else if (!anchors(read(target)).has(anchor)) {
          broken.push(`${link}: no heading "#${anchor}" in ${target}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }

  it('finds the links (README.md points into docs/)', () => {
    expect(relativeLinks(read('README.md')).filter((l) => l.startsWith('docs/')).length).toBeGreaterThan(5);
  });
});
