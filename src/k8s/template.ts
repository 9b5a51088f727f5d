import { readFileSync } from 'node:fs';
import { Document, isScalar, parseAllDocuments, visit } from 'yaml';
import { UsageError } from '../errors.js';

/** A template for --job or --expand: its text and its YAML documents (none for an empty file), each valid YAML. */
export function readTemplate(path: string, flag: '--job' | '--expand'): { text: string; docs: Document[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} template ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the path.`);
  }
  // YAML 1.1, as Kubernetes reads it: 0644 is octal (1.2 read it as 644, and wrote it so), yes and on are
  // booleans, << merges.
  const parsed = parseAllDocuments(text, { version: '1.1', merge: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  for (const doc of docs) {
    const first = doc.errors[0];
    if (first) throw new UsageError(`${flag} template ${path} is not valid YAML: ${first.message.split('\n')[0]?.replace(/:$/, '')}. Correct it there and run again.`);
  }
  return { text, docs: docs.map((doc) => resolved(doc, path, flag)) };
}

// A document with aliases or merge keys, as the plain values they stand for: what is read and changed
// (a container's env, a name) is then the node itself, never an alias shared with another place (whose
// env was replaced, not added to) or a << the fields do not show. Its comments go with it.
function resolved(doc: Document.Parsed, path: string, flag: string): Document {
  let indirect = false;
  visit(doc, {
    Alias: () => ((indirect = true), visit.BREAK),
    // A merge key reads as a symbol.
    Pair: (_, pair) => (isScalar(pair.key) && typeof pair.key.value === 'symbol' ? ((indirect = true), visit.BREAK) : undefined),
  });
  if (!indirect) return doc;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new UsageError(`${flag} template ${path}: ${(err as Error).message.split('\n')[0]} (an alias names an anchor this document does not define). Correct it there and run again.`);
  }
  // Written out whole: an object met twice is written twice, never as an alias again.
  return new Document(value, { version: '1.1', aliasDuplicateObjects: false });
}
