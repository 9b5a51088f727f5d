// Bundle each CLI into one ESM file: fewer files to load is the cheapest start-up win (wq-consume
// starts once per message). The banner gives bundled CommonJS dependencies a working require().
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const entries = {
  'wq-consume': 'src/cli/consume.ts',
  'wq-publish': 'src/cli/publish.ts',
  'wq-demo': 'src/demo/main.ts',
};

await build({
  entryPoints: entries,
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  define: { __WQ_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __wqCreateRequire}from'node:module';const require=__wqCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

for (const name of Object.keys(entries)) chmodSync(`dist/${name}.mjs`, 0o755);
