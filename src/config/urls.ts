import { UsageError } from '../errors.js';

// Several broker addresses (the nodes of a cluster): --url repeated, or a comma-separated list in --url,
// BROKER_URL, AMQP_URL or the URL file (there also one per line). A list is split only at a comma or line
// break that starts another scheme://, so a password with a comma in it stays whole. Every address is
// checked before anything connects: a malformed one is a usage error (64), never a retried outage. The
// messages name the address by its position and source, never by its text (it may hold a password).

/** Split one value (a flag, a variable, a file's text) into its URLs, in order, and check each. */
export function parseUrlList(text: string, from: string): string[] {
  const parts = text
    .trim()
    .replace(/[\s,]+$/, '')
    .split(/\s*[,\n]\s*(?=[a-z][a-z0-9+.-]*:\/\/)/i)
    .map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '') throw new UsageError(`${from} holds no broker URL.`);
  return parts.map((url, i) => checkUrl(url, parts.length === 1 ? `the broker URL (${from})` : `broker URL ${i + 1} of ${parts.length} (${from})`));
}

/** The URLs of several values (e.g. --url given more than once), in the order given. */
export function parseUrlLists(texts: readonly string[], from: string): string[] {
  if (texts.length === 1) return parseUrlList(texts[0] as string, from);
  return texts.flatMap((t, i) => parseUrlList(t, `${from} number ${i + 1}`));
}

const NUMERIC_QUERY = ['heartbeat', 'frameMax', 'channelMax'] as const;

function checkUrl(url: string, which: string): string {
  if (!/^amqps?:\/\//i.test(url)) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
    throw new UsageError(`${which} must start with amqp:// or amqps://${scheme ? `, not ${scheme}://` : ''} (check --url, BROKER_URL or AMQP_URL; a list separates URLs with commas).`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${which} cannot be parsed as a URL: check its host and port, and percent-encode special characters (%40 for @) in the user name and password.`);
  }
  if (/[\s,]/.test(url.slice(0, url.length - parsed.search.length - parsed.hash.length).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i, ''))) {
    throw new UsageError(`${which} has a comma or a space in its host or path: give each address of a list its own amqp:// or amqps:// URL, separated by commas.`);
  }
  if (!parsed.hostname) throw new UsageError(`${which} names no host: it should look like amqp://user:password@host:5672/vhost.`);
  // The numbers the AMQP client reads from the query: a wrong one would fail every connection attempt.
  for (const name of NUMERIC_QUERY) {
    const value = parsed.searchParams.get(name);
    if (value !== null && !/^\d+$/.test(value)) throw new UsageError(`${which} has ${name}=${JSON.stringify(value)} in its query: ${name} must be a whole number of ${name === 'heartbeat' ? 'seconds' : name === 'frameMax' ? 'bytes' : 'channels'}.`);
  }
  return url;
}
