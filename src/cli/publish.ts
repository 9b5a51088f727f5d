import { formatOptions } from '../config/args.js';
import { NoMessageError } from '../errors.js';
import { signalExitCode } from '../exit-codes.js';
import { loadJobTemplate, renderJob } from '../k8s/job-render.js';
import { publish } from '../publish/publish.js';
import type { Logger } from '../log.js';
import { PUBLISH_OPTIONS, parsePublishArgs, type PublishConfig } from '../config/publish.js';
import { runCli } from './run-cli.js';

// Built only when --help asks for it.
const usage = () => `Usage: wq-publish [options] [items...]

Publishes each item as one message to a RabbitMQ queue: durable, persistent, with publisher confirms.
Items come from the arguments, --file PATH (one per line), -b TEXT (one whole message), or stdin
(one per line) when no items are given. Empty lines are skipped; line endings are stripped.

${formatOptions(PUBLISH_OPTIONS, ['Connection', 'Input', 'Publishing', 'Message', 'Job manifests', 'Logging', 'Other'])}

Exit status: 0 every message confirmed; 64 usage or a bad --job template; 65 some messages refused or
unroutable (they are not in the queue); 69 broker unreachable, or the connection lost with messages
unconfirmed; 75 --job but the queue holds no ready message; 77 access refused; 78 queue or exchange
missing (--no-declare) or declared differently; 130/143 stopped by SIGINT/SIGTERM.

Examples:
  wq-publish -q job1 apple banana cherry          three messages
  wq-publish -q job1 --file items.txt --job k8s/job.yaml | kubectl apply -f -
                                                  one message per line, then a Job sized to the queue
`;

runCli({
  name: 'wq-publish',
  usage,
  parse: (argv, env) => parsePublishArgs(argv, env, process.stdin.isTTY === true),
  run: publishAndRender,
});

// Publish, log the summary, then write the rendered Job (if --job) to stdout, and nothing else there.
async function publishAndRender(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<number> {
  const template = config.job && loadJobTemplate(config.job, config.queue);
  const r = await publish(config, log, stop);
  const sent = r.confirmed - r.returned;
  const target = config.queue || `exchange ${config.exchange}`;
  const depth = r.ready === undefined ? '' : `, the queue now holds ${r.ready} ready messages`;
  const stopped = r.signal && !r.complete ? ` (stopped by ${r.signal}; the rest of the input was not published)` : '';
  const seconds = r.durationMs / 1000;
  const counts = {
    queue: config.queue || undefined,
    exchange: config.exchange || undefined,
    published: sent,
    unconfirmed: r.published - sent,
    ready: r.ready,
    seconds: Number(seconds.toFixed(3)),
    perSecond: seconds >= 0.5 ? Math.round(sent / seconds) : undefined,
  };
  log.info(counts, `published ${sent} ${sent === 1 ? 'message' : 'messages'} to ${target}${depth}${stopped}`);
  if (r.error) throw r.error;
  if (r.signal) return signalExitCode(r.signal);

  if (template && r.ready !== undefined) {
    if (r.ready === 0) {
      throw new NoMessageError(`queue "${config.queue}" holds no ready messages, so a Job would have nothing to do: no manifest was written. Publish work first.`);
    }
    const job = renderJob(template, config.queue, r.ready);
    for (const note of job.notes) log.warn({ job: job.name }, note);
    process.stdout.write(job.manifest);
    log.info({ job: job.name, completions: job.completions, parallelism: job.parallelism }, `wrote Job ${job.name}: completions ${job.completions}, parallelism ${job.parallelism}`);
  }
  return 0;
}
