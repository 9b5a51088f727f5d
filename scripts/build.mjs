// Bundle each CLI into one ESM file: fewer files to load is the cheapest start-up win (wq-consume
// starts once per message). Options shared with bench/ live in esbuild-options.mjs.
import { build } from 'esbuild';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { buildNative } from './build-native.mjs';
import { buildSea } from './build-sea.mjs';
import { buildSnapshot, buildVersionBlobs } from './build-snapshot.mjs';
import { BUNDLE_OPTIONS } from './esbuild-options.mjs';
import { lazyTls } from './lazy-tls.mjs';
import { pinoNoTransports } from './pino-no-transports.mjs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const entries = {
  'wq-consume': 'src/cli/consume.ts',
  'wq-publish': 'src/cli/publish.ts',
  'wq-demo': 'src/demo/main.ts',
};

const define = { __WQ_VERSION__: JSON.stringify(pkg.version) };
const { metafile } = await build({
  ...BUNDLE_OPTIONS,
  entryPoints: entries,
  outdir: 'dist',
  define,
  metafile: true,
  plugins: [pinoNoTransports, lazyTls],
});
for (const name of Object.keys(entries)) chmodSync(`dist/${name}.mjs`, 0o755);

buildNative();
const snapshot = await buildSnapshot(define);
buildVersionBlobs();
const sea = await buildSea(define);
// What went into each bundle: test/architecture.test.ts checks that wq-consume (all forms) carries no
// publisher code.
writeFileSync('dist/meta.json', JSON.stringify({ outputs: { ...metafile.outputs, ...snapshot.outputs, ...sea?.outputs } }));
