import { formatOptions } from '../args.js';
import { consume } from '../consume.js';
import { CONSUME_OPTIONS, parseConsumeArgs } from '../consume-config.js';
import { createLogger } from '../log.js';
import { VERSION } from '../version.js';
import { runCli } from './run-cli.js';

const USAGE = `Usage: wq-consume [options] -- command [args...]

Takes one message (or --count N, or --until-empty) from a RabbitMQ queue, pipes its body to the
command's stdin, acks it only after the command exits 0, and hands it back to the queue otherwise.

Options:
${formatOptions(CONSUME_OPTIONS)}

Exit status: 0 acked (or dead-lettered); the command's own status when it failed (128+N if killed by
signal N); 64 usage, 69 broker unreachable or lost, 70 internal, 75 no message within --wait, 77 access
refused, 78 queue missing/deleted/declared differently, 124 --timeout, 126 not executable, 127 not found,
130/143 stopped by SIGINT/SIGTERM. Message metadata reaches the command as WQ_* environment variables.
`;

runCli('wq-consume', async (setLogger) => {
  const request = parseConsumeArgs(process.argv.slice(2), process.env);
  if (request.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (request.kind === 'version') {
    process.stdout.write(`wq-consume ${VERSION}\n`);
    return 0;
  }
  const log = createLogger('wq-consume', request.config.logLevel);
  setLogger(log);
  // Kubernetes deletes a pod with SIGTERM (wq-consume may be PID 1); Ctrl-C sends SIGINT.
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => controller.abort(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const result = await consume(request.config, log, controller.signal);
  if (result.error) log.error({ code: result.error.code, exitCode: result.exitCode }, result.error.message);
  return result.exitCode;
});
