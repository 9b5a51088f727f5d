import { isMap, isPair, isScalar, visit, type Document, type YAMLMap } from 'yaml';
import { UsageError } from '../errors.js';
import { checkJob } from './job-check.js';
import { applyJobFields } from './job-fields.js';
import { jobName, labelValue, NAME_MAX, nameRoom, PLACEHOLDER } from './job-names.js';
import { findLeak } from './leaks.js';
import { readTemplate } from './template.js';
import type { ExpandOptions } from '../config/publish.js';

/*
 * wq-publish --expand TEMPLATE ITEMS... (docs/publish.md "--expand"): Kubernetes' "Parallel processing using
 * expansions" without sed. One Job per item, as multi-document YAML; no broker, nothing published.
 * - "$ITEM" is replaced inside the parsed YAML's string values, so the writer quotes the result as YAML
 *   needs (a '"', a ':', a newline, "true", "123" all come back as the item, as a string);
 * - metadata.name: the template's name with $ITEM replaced by the item as a DNS-1123 label; an item that
 *   cannot form one as it is (other characters, too long) gets a slug and a short hash of the item; a name
 *   without $ITEM gets "-<item>" appended. Label values get the same treatment within the label rules;
 * - the template's labels (the page's jobgroup) and comments are kept; the modern Job fields are applied
 *   as for --job; each Job is checked like --job output.
 */

/** What a Job name must leave for the item: room for its short hash (job-names.ts). */
const ITEM_ROOM_MIN = 8;

export interface ExpandTemplate {
  path: string;
  doc: Document;
  options: ExpandOptions;
}

export function loadExpandTemplate(options: ExpandOptions): ExpandTemplate {
  const path = options.template;
  const { text, docs } = readTemplate(path, '--expand');
  const list = docs.filter((d) => d.contents !== null);
  if (list.length !== 1 || list[0]?.get('kind') !== 'Job') throw new UsageError(`--expand template ${path} must hold exactly one Job (kind: Job) and nothing else.`);
  const doc = list[0] as Document;
  const problem = checkJob(doc.toJS(), false);
  if (problem) throw new UsageError(`--expand template ${path} is not a usable batch/v1 Job: ${problem}.`);
  if (!text.includes(PLACEHOLDER)) throw new UsageError(`--expand template ${path} has no ${PLACEHOLDER}: every Job would be the same.`);
  const leak = findLeak(docs, text);
  if (leak) throw new UsageError(`--expand template ${path} holds a broker URL with a password (${leak}...): put the URL in a Secret and reference it (valueFrom.secretKeyRef); nothing was written.`);
  const name = String(doc.getIn(['metadata', 'name']) ?? doc.getIn(['metadata', 'generateName']) ?? '');
  if (nameRoom(name) < ITEM_ROOM_MIN) {
    throw new UsageError(`--expand template ${path}: its Job name "${short(name)}" leaves ${Math.max(0, nameRoom(name))} of the ${NAME_MAX} characters a Job name may have for the item, which needs up to ${ITEM_ROOM_MIN}: shorten it.`);
  }
  return { path, doc, options };
}

/** One Job document per item, joined as multi-document YAML, and the names given. */
export function expandJobs(t: ExpandTemplate, items: readonly string[]): { manifest: string; names: string[]; notes: string[] } {
  const notes: string[] = [];
  const used = new Set<string>();
  /** The next suffix to try for a name given already: a thousand repeats of one item cost no more than a thousand items. */
  const nextSuffix = new Map<string, number>();
  const names: string[] = [];
  const texts = items.map((item) => {
    const job = t.doc.clone();
    const templateName = String(job.getIn(['metadata', 'name']) ?? job.getIn(['metadata', 'generateName']) ?? '');
    substitute(job, item);
    const first = jobName(templateName, item);
    let name = first;
    let n = nextSuffix.get(first) ?? 2;
    for (; used.has(name); n++) name = `${jobName(templateName, item, NAME_MAX - String(n).length - 1)}-${n}`;
    if (name !== first) {
      nextSuffix.set(first, n);
      notes.push(`item ${JSON.stringify(short(item))} repeats a name: Job ${name}`);
    }
    used.add(name);
    names.push(name);
    job.deleteIn(['metadata', 'generateName']);
    job.setIn(['metadata', 'name'], name);
    const containers = job.getIn(['spec', 'template', 'spec', 'containers']) as { items: YAMLMap[] };
    applyJobFields(job, containers.items[0] as YAMLMap, t.options, []);
    const problem = checkJob(job.toJS());
    if (problem) throw new UsageError(`--expand: the Job for item ${JSON.stringify(short(item))} is not a usable batch/v1 Job: ${problem}.`);
    return job.toString();
  });
  return { manifest: texts.map((text) => (text.startsWith('---') ? text : `---\n${text}`)).join(''), names, notes };
}

// Maps whose values are label values: labels, and the selectors that match them.
const LABEL_MAPS = ['labels', 'matchLabels', 'nodeSelector'];

// $ITEM in every string value; label values (a map under one of LABEL_MAPS) in their own safe form.
function substitute(job: Document, item: string): void {
  visit(job, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes(PLACEHOLDER)) return;
      const parent = path[path.length - 1];
      const map = path[path.length - 2];
      const grand = path[path.length - 3];
      const inLabels = isPair(parent) && isMap(map) && isPair(grand) && isScalar(grand.key) && LABEL_MAPS.includes(String(grand.key.value));
      const value = node.value.split(PLACEHOLDER).join(item);
      node.value = inLabels ? labelValue(value) : value; // the whole value, text around $ITEM too
    },
  });
}

const short = (item: string) => (item.length > 40 ? `${item.slice(0, 40)}...` : item);
