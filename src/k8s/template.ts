import { readFileSync } from 'node:fs';
import { parseAllDocuments, type Document } from 'yaml';
import { UsageError } from '../errors.js';

/** A template for --job or --expand: its text and its YAML documents (none for an empty file), each valid YAML. */
export function readTemplate(path: string, flag: '--job' | '--expand'): { text: string; docs: Document[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} template ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the path.`);
  }
  const parsed = parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [];
  for (const doc of docs) {
    const first = doc.errors[0];
    if (first) throw new UsageError(`${flag} template ${path} is not valid YAML: ${first.message.split('\n')[0]?.replace(/:$/, '')}. Correct it there and run again.`);
  }
  return { text, docs };
}
