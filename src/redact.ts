// Passwords never reach a log line, an error or --help: every URL we print goes through here.

/** amqp://user:secret@host/vhost -> amqp://user:***@host/vhost */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@');
}

/** Remove every URL password, and the given secret wherever it appears, from free text. */
export function redactText(text: string, secret?: string): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@');
  if (secret && secret.length >= 3) out = out.split(secret).join('***');
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
