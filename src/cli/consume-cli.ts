import { formatOptions } from '../config/args.js';
import { consume } from '../consume/consume.js';
import { messagesIn } from '../consume/run-stats.js';
import { CONSUME_GROUPS, CONSUME_OPTIONS, parseConsumeArgs, type ConsumeConfig } from '../config/consume.js';
import { logFailure, type Cli } from './run-cli.js';

// Built only when --help asks for it.
const usage = () => `Usage: wq-consume [options] -- command [args...]

Takes one message (or --count N, or --until-empty) from a RabbitMQ queue, pipes its body to the
command's stdin, and acks it only after the command exits 0. Otherwise a confirmed retry copy goes to
the back of the queue (or to the dead-letter queue) before the ack.

${formatOptions(CONSUME_OPTIONS, CONSUME_GROUPS)}

Exit status: 0 acked (or dead-lettered); the command's own status when it failed (128+N if killed by
signal N); 64 usage, 65 a message refused (a body {} cannot carry, a result too large), 69 broker
unreachable or lost, 70 internal, 71 short of a resource to start the command (its message handed
back), 75 no message within --wait, 77 access refused, 78 queue missing/deleted/declared differently,
124 --timeout, 126 not executable, 127 not found, 130/143 stopped by SIGINT/SIGTERM (129/131: SIGHUP/SIGQUIT). Message metadata
reaches the command as WQ_* environment variables.

Examples:
  wq-consume -q jobs -- python3 worker.py       one message, then exit (a Kubernetes Job's pod)
  wq-consume -q jobs --until-empty -j 2 --max-attempts 3 -- ./work.sh
                                                drain the queue, two at a time; dead-letter after 3 failures
  wq-consume -q urls -I -- curl -fsS {}          the body as an argument ({file}: a file holding it)
  wq-consume -q jobs --until-empty --result-queue results -- ./work.sh
                                                each success's stdout to the queue "results", then the ack
`;

/** wq-consume's command line: started by src/cli/consume.ts (dist/wq-consume.mjs) or from its startup snapshot (src/cli/consume-snapshot.ts). */
export const consumeCli: Cli<ConsumeConfig> = {
  name: 'wq-consume',
  usage,
  parse: parseConsumeArgs,
  run: async (config, log, stop) => {
    const result = await consume(config, log, stop);
    if (result.error) logFailure(log, result.error);
    if (messagesIn(result.summary) > 1 || (result.summary.reconnects ?? 0) > 0) log.info({ ...result.summary, exitCode: result.exitCode }, summaryText(result.summary));
    return result.exitCode;
  },
};

// The run's account as one sentence (the same figures are the line's fields). The command's runs and the
// messages' fates are told apart: a message handed back before its command started has no run.
function summaryText(s: Record<string, number>): string {
  const n = (k: string) => s[k] ?? 0;
  const fates = [`${n('acked')} acked`, `${n('retried')} retried`, `${n('deadLettered')} dead-lettered`, `${n('handedBack')} handed back`];
  if (n('refreshed')) fates.push(`${n('refreshed')} replaced by a fresh copy`);
  const reconnects = n('reconnects') ? `; ${n('reconnects')} ${n('reconnects') === 1 ? 'reconnect' : 'reconnects'}` : '';
  const runs = `the command ran ${n('processed')} ${n('processed') === 1 ? 'time' : 'times'} (${n('durationP50Ms')} ms at p50, ${n('durationP95Ms')} ms at p95, ${n('durationMaxMs')} ms at most)`;
  return `run finished in ${(n('wallMs') / 1000).toFixed(1)} s: ${runs}; of the messages, ${fates.join(', ')}${reconnects}`;
}
