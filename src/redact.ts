// Passwords never reach a log line, an error or --help: every URL we print goes through here.
// The userinfo ends at the LAST "@" before the host part (the first "/", "?" or "#" after the scheme), as
// the URL parser and amqplib read it: a password may hold a literal "@" (amqp://u:p@ss@host is user u, password p@ss).

/** scheme://, then the userinfo up to the last "@" before the path, query or fragment. */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;
/** The same inside free text, where a URL also ends at white space. */
const USERINFO_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)([^/?#\s]*)@/gi;

/** The userinfo with its password (after the first ":") replaced; unchanged without a password. */
function hidePassword(match: string, scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon === -1 ? match : `${scheme}${userinfo.slice(0, colon)}:***@`;
}

/** The password in a URL as written (not decoded), or undefined. */
function rawPassword(url: string): string | undefined {
  const userinfo = USERINFO.exec(url)?.[2];
  const colon = userinfo?.indexOf(':') ?? -1;
  return userinfo && colon !== -1 ? userinfo.slice(colon + 1) : undefined;
}

/** amqp://user:secret@host/vhost -> amqp://user:***@host/vhost */
export function redactUrl(url: string): string {
  return url.replace(USERINFO, hidePassword);
}

/** The passwords of the configured broker URLs (every one of a list): redactText removes each, wherever it appears. */
const secrets = new Set<string>();

/** Remember the passwords of these URLs (as written and decoded), so no line can show one. */
export function rememberSecrets(urls: readonly string[]): void {
  for (const url of urls) {
    for (const s of [rawPassword(url), urlPassword(url)]) if (s && s.length >= 3) secrets.add(s);
  }
}

/** Remove every URL password, the given secret and every remembered password wherever it appears, from free text. */
export function redactText(text: string, secret?: string): string {
  let out = text.replace(USERINFO_IN_TEXT, hidePassword);
  for (const s of secret && secret.length >= 3 ? [secret, ...secrets] : secrets) out = out.split(s).join('***');
  return out;
}

/** The password in an AMQP URL, decoded, or undefined. */
export function urlPassword(url: string): string | undefined {
  const raw = rawPassword(url);
  if (!raw) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
