/**
 * The media type of an answer, from the request's Accept header, as PostgREST negotiates it: a JSON array
 * (`application/json`, `application/vnd.pgrst.array+json`, anything), one object
 * (`application/vnd.pgrst.object+json`, supabase-js `.single()`), or CSV (`text/csv`, `.csv()`); the pgrst ones
 * with `nulls=stripped` (`.stripNulls()`) leave out null-valued keys. What this server cannot produce (query plans
 * of `.explain()`, GeoJSON) is a 406 PGRST107 that names it, as PostgREST answers when the feature is off.
 */
import { ApiError } from '../errors.js';

export interface Media {
  kind: 'array' | 'object' | 'csv';
  stripNulls: boolean;
}

const ARRAY = 'application/vnd.pgrst.array+json';
const OBJECT = 'application/vnd.pgrst.object+json';
export const CONTENT_TYPES: Record<Media['kind'], string> = {
  array: 'application/json; charset=utf-8',
  object: `${OBJECT}; charset=utf-8`,
  csv: 'text/csv; charset=utf-8',
};

/** One media range of Accept: its type and its parameters (q left out). */
function parseRange(range: string): { type: string; params: Map<string, string> } {
  const [type = '', ...rest] = range.split(';').map((p) => p.trim());
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  return { type: type.toLowerCase(), params };
}

const DEFAULT: Media = Object.freeze({ kind: 'array', stripNulls: false });
/** Answers by Accept header: clients send a handful of distinct ones, and a request asks several times. */
const known = new Map<string, Media>();
const KNOWN_MAX = 64;

/**
 * The first media range of Accept this server produces, in the order given (the result is shared: read only).
 *
 * @example
 * negotiate('application/vnd.pgrst.object+json;nulls=stripped') // { kind: 'object', stripNulls: true }
 */
export function negotiate(accept: string | undefined): Media {
  if (accept === undefined || accept.trim() === '') return DEFAULT;
  const hit = known.get(accept);
  if (hit) return hit;
  const media = Object.freeze(choose(accept));
  if (known.size < KNOWN_MAX && accept.length <= 256) known.set(accept, media);
  return media;
}

function choose(accept: string): Media {
  const ranges = accept.split(',').map(parseRange);
  for (const { type, params } of ranges) {
    const stripNulls = params.get('nulls') === 'stripped';
    if (type === OBJECT) return { kind: 'object', stripNulls };
    if (type === ARRAY) return { kind: 'array', stripNulls };
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return { kind: 'array', stripNulls: false };
    if (type === 'text/csv' || type === 'text/*') return { kind: 'csv', stripNulls: false };
  }
  const asked = ranges.map((r) => r.type).join(', ');
  throw new ApiError(406, 'PGRST107', `None of these media types are available: ${asked.slice(0, 200)}`, {
    details: ranges.some((r) => r.type.startsWith('application/vnd.pgrst.plan'))
      ? 'query plans (explain()) are not served by this server, as with PostgREST\'s db-plan-enabled off'
      : 'this server answers application/json, application/vnd.pgrst.array+json, application/vnd.pgrst.object+json (each may have nulls=stripped on the pgrst ones) and text/csv',
  });
}
