/** Output longer than this many lines (or characters) is collapsed to its last lines. */
export const COLLAPSED_LINES = 12;
export const COLLAPSED_CHARS = 2_000;

/** The last lines that fit the collapsed view, and how many lines that hides. */
export function collapse(output: string): { lines: number; hidden: number; tail: string } {
  const all = output === '' ? [] : output.split('\n');
  let tail = all.slice(-COLLAPSED_LINES);
  while (tail.length > 1 && tail.join('\n').length > COLLAPSED_CHARS) tail = tail.slice(1);
  let text = tail.join('\n');
  if (text.length > COLLAPSED_CHARS) text = `…${text.slice(-COLLAPSED_CHARS)}`; // one enormous line
  const hidden = all.length - tail.length;
  return { lines: all.length, hidden: hidden === 0 && text !== output ? 1 : hidden, tail: text };
}
