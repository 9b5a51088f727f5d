// Passwords never reach a log line, an error or --help: every URL we print goes through here.

/** amqp://user:secret@host/vhost -> amqp://user:***@host/vhost */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@');
}

/** The passwords of the configured broker URLs (every one of a list): redactText removes each, wherever it appears. */
const secrets = new Set<string>();

/** Remember the passwords of these URLs (as written and decoded), so no line can show one. */
export function rememberSecrets(urls: readonly string[]): void {
  for (const url of urls) {
    const raw = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(url)?.[1];
    for (const s of [raw, urlPassword(url)]) if (s && s.length >= 3) secrets.add(s);
  }
}

/** Remove every URL password, the given secret and every remembered password wherever it appears, from free text. */
export function redactText(text: string, secret?: string): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@');
  for (const s of secret && secret.length >= 3 ? [secret, ...secrets] : secrets) out = out.split(s).join('***');
  return out;
}

/** The password in an AMQP URL, decoded, or undefined. */
export function urlPassword(url: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(url);
  if (!m || !m[1]) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}
