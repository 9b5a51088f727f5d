// The esbuild options every wq bundle shares; bench/ builds its floor scripts with the same ones so a
// comparison measures code, not bundling. The banner gives bundled CommonJS dependencies a working require().
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outExtension: { '.js': '.mjs' },
  minify: true,
  keepNames: true,
  legalComments: 'none',
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __wqCreateRequire}from'node:module';const require=__wqCreateRequire(import.meta.url);" },
  logLevel: 'warning',
};
