// The one line at the bottom of a terminal that a progress display redraws in place. A log line written
// while it shows must first erase it, or the two run together; the display draws itself again below.
let eraser: (() => void) | undefined;

/** The progress display owns the line while `erase` is set; undefined when it is gone. */
export function ownStatusLine(erase: (() => void) | undefined): void {
  eraser = erase;
}

/** Erase the status line, if one shows, before writing a line of our own. */
export function clearStatusLine(): void {
  const erase = eraser;
  eraser = undefined;
  erase?.();
}
