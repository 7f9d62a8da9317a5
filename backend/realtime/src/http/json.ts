/**
 * JSON from the network (internal): one place that parses request bodies and WebSocket frames, refusing text
 * nested deeper than a limit before parsing it. `JSON.parse` itself copes with deep nesting, but everything
 * after it does not: `JSON.stringify`, validators and PostgreSQL's jsonb parser recurse, and a few kilobytes of
 * `[[[[…` would otherwise end in a stack overflow (a 500) somewhere downstream.
 */

/** Thrown by {@link parseJson}; `depth` is set when the text was nested too deeply. */
export class JsonInputError extends Error {
  override readonly name = 'JsonInputError';
  constructor(message: string, readonly depth?: number) {
    super(message);
  }
}

/**
 * The nesting depth of JSON text once it passes `max` (counting `[` and `{` outside strings), else undefined.
 * Linear in the text, no allocation.
 */
export function depthBeyond(text: string, max: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/**
 * Parses JSON from the network; throws {@link JsonInputError} for text that does not parse or nests deeper than
 * `maxDepth` levels.
 *
 * @example
 * parseJson('[[1]]', 64) // [[1]]
 * parseJson('['.repeat(100) + ']'.repeat(100), 64) // throws: nested deeper than 64 levels
 */
export function parseJson(text: string, maxDepth: number): unknown {
  if (depthBeyond(text, maxDepth) !== undefined) throw new JsonInputError(`JSON nested deeper than ${maxDepth} levels`, maxDepth);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new JsonInputError((err as Error).message);
  }
}
