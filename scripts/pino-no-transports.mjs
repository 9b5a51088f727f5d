// An esbuild plugin for wq's bundles: pino without its transports. wq logs through pino's synchronous
// fd-2 destination only; pino's transport module (and thread-stream, a worker-thread stream it requires
// at load time) would be parsed and run at every start for nothing: ~11 M instructions of a one-shot's
// ~750 M (bench/README.md). pino.transport() throws instead.
export const pinoNoTransports = {
  name: 'pino-no-transports',
  setup(build) {
    build.onResolve({ filter: /^thread-stream$|[\\/]transport(\.js)?$/ }, (args) =>
      /[\\/]node_modules[\\/]pino[\\/]/.test(args.importer) ? { path: args.path, namespace: 'pino-no-transports' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'pino-no-transports' }, () => ({
      contents: "module.exports = function transport() { throw new Error('pino transports are not bundled with wq: its logs go to stderr') }",
      loader: 'js',
    }));
  },
};
