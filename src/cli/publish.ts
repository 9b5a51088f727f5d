import { isUtf8 } from 'node:buffer';
import { formatOptions } from '../config/args.js';
import { BrokerUnavailableError, NoMessageError, UsageError, WqError } from '../errors.js';
import { EXIT, signalExitCode } from '../exit-codes.js';
import { expandJobs, loadExpandTemplate } from '../k8s/expand.js';
import { loadJobTemplate, renderJob } from '../k8s/job-render.js';
import { openProgress, readItems } from '../publish/items.js';
import { publish } from '../publish/publish.js';
import { resumeHint } from '../publish/result.js';
import type { Logger } from '../log.js';
import { PUBLISH_GROUPS, PUBLISH_OPTIONS, parsePublishArgs, type PublishConfig } from '../config/publish.js';
import { runCli } from './run-cli.js';

// Built only when --help asks for it.
const usage = () => `Usage: wq-publish [options] [items...]

Publishes each item as one message to a RabbitMQ queue: durable, persistent, with publisher confirms.
Items come from the arguments, --file PATH (one per line), -b TEXT (one whole message), --body-file PATH
(one whole file per message), or stdin (one per line) when none of these is given. Empty lines are skipped; line endings are stripped.

${formatOptions(PUBLISH_OPTIONS, PUBLISH_GROUPS)}

Exit status: 0 every message confirmed (--expand: every Job written); 64 usage, a bad --job or --expand
template, an input that cannot be read, or a --skip past its end; 65 some messages refused or unroutable
(they are not in the queue); 69 no broker address answered within --connect-timeout (at the start, or
after a lost connection), or the broker answered none of the messages in flight that long; 74 the
manifest could not be written to stdout; 75 --job but the queue holds no ready message; 77 access
refused; 78 queue or exchange missing (--no-declare) or declared differently, the queue deleted while
publishing (publish the whole input again), or TLS that cannot work; 130/143 stopped by SIGINT/SIGTERM (129/131: SIGHUP/SIGQUIT).
A run that did not publish everything ends with a line that says how to resume (--run-id and --skip).

Examples:
  wq-publish -q job1 apple banana cherry          three messages
  wq-publish -q job1 --file items.txt --job k8s/job.yaml | kubectl apply -f -
                                                  one message per line, then a Job sized to the queue
  wq-publish --expand job-tmpl.yaml apple banana cherry | kubectl apply -f -
                                                  no broker: one Job per item, $ITEM replaced
`;

runCli({
  name: 'wq-publish',
  usage,
  parse: (argv, env) => parsePublishArgs(argv, env, process.stdin.isTTY === true),
  run: publishAndRender,
});

// Publish, log the summary, then write the rendered Job (if --job) to stdout, and nothing else there.
async function publishAndRender(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<number> {
  if (config.expand) return expand(config, log, stop);
  const template = config.job && loadJobTemplate(config.job, config.queue);
  const r = await publish(config, log, stop).catch((err: unknown) => {
    if (!stop.aborted) throw err;
    return undefined; // stopped while connecting or declaring: nothing was published
  });
  if (!r) {
    log.warn({ signal: String(stop.reason) }, `stopped by ${String(stop.reason)} before publishing began: nothing was published`);
    return signalExitCode(String(stop.reason));
  }
  const sent = r.confirmed - r.returned;
  const target = config.queue || `exchange ${config.exchange}`;
  const depth = r.ready === undefined ? '' : `, the queue now holds ${r.ready} ready ${r.ready === 1 ? 'message' : 'messages'}`;
  // Stopped with everything sent confirmed: this line is the last, so it says where to resume.
  const stopped = r.signal && !r.complete ? ` (stopped by ${r.signal}; the rest of the input was not published)${r.error || !resumeHint(r) ? '' : `.${resumeHint(r)}`}` : '';
  const again = r.reconnects > 0 || r.republished > 0 ? `; ${r.republished} published again after ${r.reconnects} ${r.reconnects === 1 ? 'reconnect' : 'reconnects'} (possible duplicates, with the same message ids)` : '';
  const seconds = r.durationMs / 1000;
  const counts = {
    queue: config.queue || undefined,
    exchange: config.exchange || undefined,
    published: sent,
    unconfirmed: r.published - sent,
    ready: r.ready,
    republished: r.republished,
    reconnects: r.reconnects,
    seconds: Number(seconds.toFixed(3)),
    perSecond: seconds >= 0.5 ? Math.round(sent / seconds) : undefined,
  };
  log.info(counts, `published ${sent} ${sent === 1 ? 'message' : 'messages'} to ${target}${depth}${again}${stopped}`);
  if (r.error) throw r.error;
  if (r.signal) return signalExitCode(r.signal);

  if (template) {
    // Every way to an unknown depth ends in r.error above; should one not, no manifest is better than a wrong one.
    if (r.ready === undefined) throw new BrokerUnavailableError(`could not read the depth of queue "${config.queue}" after publishing, so no manifest was written. Render it from the queue as it is: wq-publish -q ${config.queue} --job ${config.job?.template ?? "TEMPLATE"} < /dev/null`);
    if (r.ready === 0) {
      throw new NoMessageError(`queue "${config.queue}" holds no ready messages, so a Job would have nothing to do: no manifest was written. Publish work first.`);
    }
    const job = renderJob(template, config.queue, r.ready);
    for (const note of job.notes) log.warn({ job: job.name }, note);
    await writeOut(job.manifest, 'the Job manifest', `${sent === 1 ? 'The message is' : `The ${sent} messages are`} in the queue: do not publish ${sent === 1 ? 'it' : 'them'} again; render the manifest alone with wq-publish -q ${config.queue} --job ${config.job?.template ?? 'TEMPLATE'} < /dev/null > job.yaml`);
    log.info({ job: job.name, completions: job.completions, parallelism: job.parallelism }, `wrote Job ${job.name}: completions ${job.completions}, parallelism ${job.parallelism}`);
  }
  return 0;
}

// The manifest, written whole or an error: a reader that closed early (EPIPE) has not got every Job.
async function writeOut(text: string, what: string, then: string): Promise<void> {
  if (process.stdout.listenerCount('error') === 0) process.stdout.on('error', () => undefined); // the callback says it
  await new Promise<void>((resolve, reject) => {
    process.stdout.write(text, (err) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      reject(new WqError('OUTPUT_FAILED', `could not write ${what} to stdout (${code}${code === 'EPIPE' ? ': its reader closed it' : ''}): what was written may be cut short. ${then}`, EXIT.OUTPUT_FAILED));
    });
  });
}

// --expand: no broker. Read every item (the same readers and rules as publishing), then write the Jobs.
async function expand(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<number> {
  const template = loadExpandTemplate(config.expand as NonNullable<PublishConfig['expand']>);
  const bodies: Buffer[] = [];
  try {
    await readItems(config.source, (body) => void bodies.push(body), openProgress(config.source), stop);
  } catch (err) {
    if (!stop.aborted) throw err; // a signal ends the reading with an abort: the signal's status, not an internal error
  }
  if (stop.aborted) return signalExitCode(String(stop.reason));
  if (bodies.length === 0) throw new UsageError('--expand: no items given (arguments, --file PATH, or lines on stdin): no Job was written.');
  const notText = bodies.findIndex((body) => !isUtf8(body));
  if (notText !== -1) throw new UsageError(`--expand: item ${notText + 1} is not UTF-8 text, which a Job manifest needs: no Job was written.`);
  const items = bodies.map((body) => body.toString('utf8'));
  const r = expandJobs(template, items);
  for (const note of r.notes) log.warn({ template: template.path }, note);
  await writeOut(r.manifest, `the ${r.names.length === 1 ? 'Job' : `${r.names.length} Jobs`}`, 'Run again into a file, or into a reader that takes it all.');
  log.info({ jobs: r.names.length, first: r.names[0] }, `wrote ${r.names.length} ${r.names.length === 1 ? 'Job' : 'Jobs'} from ${template.path}`);
  return 0;
}
