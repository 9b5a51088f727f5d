// The leaner one-shot floor (issue 15): plain CommonJS, amqplib + node:child_process, no basic.cancel
// before the ack (so with prefetch 1 the broker may push a second message before the close; it comes
// back redelivered), no logging. CommonJS loads a little faster than an ES module; the bench bundles it
// (format cjs) with dist/'s other esbuild options.
// Usage: BROKER_URL=... QUEUE=... node floor-consume-lean.cjs command [args...]
const amqp = require('amqplib');
const { spawn } = require('node:child_process');

const [command, ...args] = process.argv.slice(2);
amqp.connect(process.env.BROKER_URL, { noDelay: true }).then(async (conn) => {
  const ch = await conn.createChannel();
  await ch.prefetch(1);
  await ch.consume(process.env.QUEUE, (msg) => {
    const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
    child.stdin.on('error', () => {});
    child.stdin.end(msg.content);
    child.on('exit', async (code) => {
      if (code === 0) ch.ack(msg);
      else ch.nack(msg, false, true);
      await ch.close();
      await conn.close();
      process.exit(code ?? 1);
    });
  });
});
