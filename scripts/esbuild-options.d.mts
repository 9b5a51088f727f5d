// Types for esbuild-options.mjs, for the tests that bundle scripts of their own.
export declare const BUNDLE_OPTIONS: { banner: { js: string } } & Record<string, unknown>;
