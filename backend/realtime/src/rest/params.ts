import { badRequest } from '../errors.js';

/** Filter operators this server implements (PostgREST names). */
export const FILTER_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'is'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export interface Filter {
  column: string;
  op: FilterOp;
  negate: boolean;
  /** A list for `in`; a keyword (null, not_null, true, false, unknown) for `is`. */
  value: string | string[];
}

export interface Order {
  column: string;
  descending: boolean;
  nulls: 'first' | 'last' | undefined;
}

/** A request's query string, parsed and checked for syntax (not yet against a table). */
export interface RestQuery {
  select: string[] | '*';
  filters: Filter[];
  order: Order[];
  limit: number | undefined;
  offset: number | undefined;
  onConflict: string[] | undefined;
  columns: string[] | undefined;
}

const IS_VALUES = ['null', 'not_null', 'true', 'false', 'unknown'];
const UNSUPPORTED_KEYS = new Set(['or', 'and', 'not.or', 'not.and']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function identifier(name: string, where: string): string {
  if (!IDENT.test(name)) {
    throw badRequest('PGRST100', `"${name}" in ${where} is not supported: only plain column names are`, 'Embedded resources, JSON paths, casts and aliases are not supported by this server.');
  }
  return name;
}

function parseSelect(raw: string | null): string[] | '*' {
  if (raw === null || raw.trim() === '*' || raw.trim() === '') return '*';
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.includes('*')) {
    if (parts.length === 1) return '*';
    throw badRequest('PGRST100', `select=${raw} is not supported: use "*" or a list of columns`);
  }
  return parts.map((p) => identifier(p, 'select'));
}

/** Splits `(a,b,"c,d")` into values, honouring double quotes and backslash escapes as PostgREST does. */
export function parseList(raw: string, column: string): string[] {
  if (!raw.startsWith('(') || !raw.endsWith(')')) {
    throw badRequest('PGRST100', `filter on "${column}": in. expects a list like in.(a,b,c), got "${raw}"`);
  }
  const body = raw.slice(1, -1);
  const values: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\' && i + 1 < body.length) current += body[++i];
    else if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      values.push(current);
      current = '';
    } else current += ch;
  }
  if (body.length > 0) values.push(current);
  return values;
}

function parseFilter(column: string, raw: string): Filter {
  identifier(column, 'a filter');
  let rest = raw;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf('.');
  const op = dot < 0 ? rest : rest.slice(0, dot);
  const value = dot < 0 ? '' : rest.slice(dot + 1);
  if (!(FILTER_OPS as readonly string[]).includes(op)) {
    throw badRequest('PGRST100', `filter "${column}=${raw}": operator "${op}" is not supported; supported operators: ${FILTER_OPS.join(', ')} (each may be prefixed with not.)`);
  }
  if (op === 'in') return { column, op, negate, value: parseList(value, column) };
  if (op === 'is' && !IS_VALUES.includes(value.toLowerCase())) {
    throw badRequest('PGRST100', `filter "${column}=${raw}": is. expects one of ${IS_VALUES.join(', ')}`);
  }
  return { column, op: op as FilterOp, negate, value: op === 'is' ? value.toLowerCase() : value };
}

function parseOrder(raw: string | null): Order[] {
  if (!raw) return [];
  return raw.split(',').map((term) => {
    const [column = '', ...mods] = term.trim().split('.');
    identifier(column, 'order');
    const order: Order = { column, descending: false, nulls: undefined };
    for (const mod of mods) {
      if (mod === 'asc' || mod === 'desc') order.descending = mod === 'desc';
      else if (mod === 'nullsfirst' || mod === 'nullslast') order.nulls = mod === 'nullsfirst' ? 'first' : 'last';
      else throw badRequest('PGRST100', `order=${raw}: "${mod}" is not one of asc, desc, nullsfirst, nullslast`);
    }
    return order;
  });
}

function parseCount(raw: string | null, name: string): number | undefined {
  if (raw === null) return undefined;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw badRequest('PGRST100', `${name}=${raw.slice(0, 40)}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  return value;
}

const columnList = (raw: string | null, name: string): string[] | undefined =>
  raw === null ? undefined : raw.split(',').map((c) => identifier(c.trim().replace(/^"|"$/g, ''), name));

/** Parses a PostgREST query string. Unsupported syntax is a 400 that names what is unsupported. */
export function parseQuery(params: URLSearchParams): RestQuery {
  const filters: Filter[] = [];
  for (const [key, value] of params) {
    if (['select', 'order', 'limit', 'offset', 'on_conflict', 'columns'].includes(key)) continue;
    if (UNSUPPORTED_KEYS.has(key)) throw badRequest('PGRST100', `"${key}=" (logical operators) is not supported by this server; combine plain filters instead`);
    filters.push(parseFilter(key, value));
  }
  return {
    select: parseSelect(params.get('select')),
    filters,
    order: parseOrder(params.get('order')),
    limit: parseCount(params.get('limit'), 'limit'),
    offset: parseCount(params.get('offset'), 'offset'),
    onConflict: columnList(params.get('on_conflict'), 'on_conflict'),
    columns: columnList(params.get('columns'), 'columns'),
  };
}

/** The directives of the Prefer header(s) this server honours. */
export interface Prefer {
  returnRepresentation: boolean;
  count: boolean;
  resolution: 'ignore-duplicates' | 'merge-duplicates' | undefined;
  missingDefault: boolean;
}

export function parsePrefer(header: string | string[] | undefined): Prefer {
  const items = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim());
  const has = (v: string) => items.includes(v);
  return {
    returnRepresentation: has('return=representation'),
    count: has('count=exact') || has('count=planned') || has('count=estimated'),
    resolution: has('resolution=ignore-duplicates') ? 'ignore-duplicates' : has('resolution=merge-duplicates') ? 'merge-duplicates' : undefined,
    missingDefault: has('missing=default'),
  };
}
