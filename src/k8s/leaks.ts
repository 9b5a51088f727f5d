import { visit, type Document } from 'yaml';
import { redactText, redactUrl, urlPassword } from '../redact.js';

// A manifest wq-publish writes (--job, --expand) never holds a broker URL with a password: the URL
// belongs in a Secret. These find one, to refuse the template.

/** In the text (comments too): a URL with a password, stopping at quotes so a flow sequence is read item by item. */
const PASSWORD_URL = /amqps?:\/\/[^\s:@/'"]*:[^\s@/'"]+@/i;
const URL_START = /amqps?:\/\//gi;

/** The first broker URL with a password in a string (a URL runs to white space), redacted up to its "@"; or undefined. */
function passwordUrlIn(text: string): string | undefined {
  for (const m of text.matchAll(URL_START)) {
    const url = text.slice(m.index).split(/\s/, 1)[0] as string;
    if (urlPassword(url)) {
      const shown = redactUrl(url);
      return shown.slice(0, shown.indexOf(':***@') + 5);
    }
  }
  return undefined;
}

// A Secret's data (and any other value) may hold the URL in base64: one whose decoding is text is read too.
function fromBase64(value: string): string {
  if (value.length < 16 || !/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(value)) return '';
  return Buffer.from(value, 'base64').toString('utf8');
}

/** A URL with a password in any string of the documents (keys and values, as parsed: quotes and escapes undone) or in the text. */
export function findLeak(docs: readonly Document[], text: string): string | undefined {
  let found: string | undefined;
  for (const doc of docs) {
    visit(doc, {
      Scalar(_, node) {
        if (typeof node.value === 'string') found ??= passwordUrlIn(node.value) ?? passwordUrlIn(fromBase64(node.value));
        // A !!binary scalar, parsed to its bytes: read as text too.
        else if (node.value instanceof Uint8Array) {
          const text = Buffer.from(node.value).toString('utf8');
          found ??= passwordUrlIn(text) ?? passwordUrlIn(fromBase64(text)); // a Secret's data: base64 again
        }
        return found === undefined ? undefined : visit.BREAK;
      },
    });
  }
  const inText = PASSWORD_URL.exec(text)?.[0];
  return found ?? (inText === undefined ? undefined : redactText(inText));
}
