import { createHash } from 'node:crypto';

// Names for wq-publish --expand: DNS-1123 Job names and label values made from an item, unique per item.
export const PLACEHOLDER = '$ITEM';
/** The Job name becomes the pods' batch.kubernetes.io/job-name label value: at most 63 characters. */
export const NAME_MAX = 63;

/** The template's name around $ITEM (appended when the name has none), as name characters. */
function around(templateName: string): [string, string] {
  const base = templateName.includes(PLACEHOLDER) ? templateName : `${templateName.replace(/-+$/, '')}-${PLACEHOLDER}`;
  const [before = '', after = ''] = base.split(PLACEHOLDER, 2).map((s) => s.toLowerCase().replace(/[^a-z0-9-]/g, '-'));
  return [before, after];
}

/** How many characters of a Job name the template's name leaves for the item. */
export function nameRoom(templateName: string, max = NAME_MAX): number {
  const [before, after] = around(templateName);
  return max - before.length - after.length;
}

/** The Job's name: the template's name with $ITEM as a DNS-1123 label part, unique per item. */
export function jobName(templateName: string, item: string, max = NAME_MAX): string {
  const [before, after] = around(templateName);
  const room = max - before.length - after.length;
  const slug = item.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const exact = slug === item && slug.length <= room;
  const part = exact ? slug : `${slug.slice(0, Math.max(0, room - 9)).replace(/-+$/, '')}-${hash(item)}`.replace(/^-/, '');
  return `${before}${part}${after}`.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').replace(/--+/g, '-').slice(0, max).replace(/-+$/, '') || hash(item);
}

/** An item as a label value: itself if it is one (<= 63 of [A-Za-z0-9._-], alphanumeric at both ends), else a slug and a hash. */
export function labelValue(item: string): string {
  if (/^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/.test(item)) return item;
  const slug = item.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 54).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return slug ? `${slug}-${hash(item)}` : hash(item);
}

const hash = (item: string) => createHash('sha256').update(item).digest('hex').slice(0, 8);
