// An esbuild plugin for wq's bundles: node:tls loaded on the first amqps:// connect instead of at every
// start. amqplib requires it at load time; most runs never use it; and Node 20 cannot put node:tls in a
// user snapshot at all (the build aborts: "Unknown external reference"). amqplib only calls tls.connect().
export const lazyTls = {
  name: 'lazy-tls',
  setup(build) {
    build.onResolve({ filter: /^(node:)?tls$/ }, (args) =>
      args.namespace === 'lazy-tls' ? { path: 'node:tls', external: true } : { path: 'tls', namespace: 'lazy-tls' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-tls' }, () => ({
      contents: "module.exports = { connect: (...args) => require('node:tls').connect(...args) };",
      loader: 'js',
    }));
  },
};
