declare const __WQ_VERSION__: string | undefined;

/** Set by the bundler from package.json; "dev" when running from source. */
export const VERSION: string = typeof __WQ_VERSION__ === 'string' ? __WQ_VERSION__ : 'dev';
