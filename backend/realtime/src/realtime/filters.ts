/**
 * postgres_changes filters (internal): `column=op.value`, op one of eq, neq, lt, lte, gt, gte, in
 * (`in.(a,b,"c,d")`, at most 100 values), optionally negated with `not.`; several conditions joined by commas
 * must all hold. Values are parsed once, by the column's type, and compared with the row PostgreSQL rendered.
 */
import { isUuid } from '@mobvibe/events';
import { RealtimeError, RealtimeErrorCode } from './errors.js';
import { MAX_FILTER_VALUES } from '../limits.js';

export const FilterOp = { Eq: 'eq', Neq: 'neq', Lt: 'lt', Lte: 'lte', Gt: 'gt', Gte: 'gte', In: 'in' } as const;
export type FilterOp = (typeof FilterOp)[keyof typeof FilterOp];
const OPS = new Set<string>(Object.values(FilterOp));

/** How a column's values compare. */
export const ValueKind = { Number: 'number', Bool: 'bool', Uuid: 'uuid', Time: 'time', Text: 'text' } as const;
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];
type Value = number | string | boolean;

export interface Condition {
  column: string;
  op: FilterOp;
  negate: boolean;
  kind: ValueKind;
  /** One value, or the list of `in`. */
  values: Value[];
}

const NUMERIC = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);
const TIME = new Set(['timestamptz', 'timestamp', 'date']);

const invalid = (message: string) => new RealtimeError(RealtimeErrorCode.InvalidPostgresChanges, message);

function kindOf(column: string, type: string): ValueKind {
  if (NUMERIC.has(type)) return ValueKind.Number;
  if (TIME.has(type)) return ValueKind.Time;
  if (type === 'bool') return ValueKind.Bool;
  if (type === 'uuid') return ValueKind.Uuid;
  if (type === 'json' || type === 'jsonb' || type.startsWith('_')) {
    throw invalid(`filters on ${type} column "${column}" are not supported`);
  }
  return ValueKind.Text;
}

/** Parses a filter value for a column kind; throws InvalidPostgresChanges naming what was expected. */
function parseValue(kind: ValueKind, text: string, column: string): Value {
  const bad = (what: string) => invalid(`filter value ${JSON.stringify(text)} for column "${column}" is not ${what}`);
  switch (kind) {
    case ValueKind.Number: {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case ValueKind.Bool:
      if (text === 'true' || text === 't') return true;
      if (text === 'false' || text === 'f') return false;
      throw bad('true or false');
    case ValueKind.Uuid:
      if (!isUuid(text)) throw bad('a uuid');
      return text.toLowerCase();
    case ValueKind.Time: {
      const t = Date.parse(text);
      if (Number.isNaN(t)) throw bad('a timestamp');
      return t;
    }
    default:
      return text;
  }
}

/** A row's value in the same form as parsed filter values, or undefined for NULL (which matches nothing). */
export function rowValue(kind: ValueKind, raw: unknown): Value | undefined {
  if (raw === null || raw === undefined) return undefined;
  switch (kind) {
    case ValueKind.Number:
      return Number(raw);
    case ValueKind.Bool:
      return raw === true || raw === 't' || raw === 'true';
    case ValueKind.Uuid:
      return String(raw).toLowerCase();
    case ValueKind.Time:
      return Date.parse(String(raw));
    default:
      return typeof raw === 'string' ? raw : JSON.stringify(raw);
  }
}

/** Splits on `sep` outside double quotes and parentheses. */
function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && quoted) i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth--;
    else if (!quoted && depth === 0 && ch === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const unquote = (v: string): string => (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);

function parseCondition(part: string, columns: Map<string, string>): Condition {
  const eq = part.indexOf('=');
  if (eq <= 0) throw invalid(`filter ${JSON.stringify(part)} must look like column=op.value, e.g. session_id=eq.<uuid>`);
  const column = part.slice(0, eq).trim();
  const type = columns.get(column);
  if (type === undefined) throw invalid(`filter column "${column}" does not exist`);
  let rest = part.slice(eq + 1);
  const negate = rest.startsWith('not.');
  if (negate) rest = rest.slice(4);
  const dot = rest.indexOf('.');
  const op = dot < 0 ? rest : rest.slice(0, dot);
  if (!OPS.has(op)) throw invalid(`filter operator "${op}" is not supported; use one of ${[...OPS].join(', ')} (optionally with not.)`);
  const kind = kindOf(column, type);
  const valueText = rest.slice(dot + 1);
  if (op !== FilterOp.In) return { column, op: op as FilterOp, negate, kind, values: [parseValue(kind, unquote(valueText), column)] };
  if (!valueText.startsWith('(') || !valueText.endsWith(')')) throw invalid(`"in" takes a list: ${column}=in.(a,b,c)`);
  const items = splitTop(valueText.slice(1, -1), ',').map((v) => unquote(v.trim()));
  if (items.length > MAX_FILTER_VALUES) throw invalid(`"in" lists hold at most ${MAX_FILTER_VALUES} values, got ${items.length}`);
  return { column, op: FilterOp.In, negate, kind, values: items.map((v) => parseValue(kind, v, column)) };
}

/**
 * Parses a binding's filter against its table's columns (name -> type). Empty or absent means no condition.
 *
 * @example
 * parseFilter('session_id=eq.6f1c…', columns) // [{column: 'session_id', op: 'eq', kind: 'uuid', values: ['6f1c…']}]
 */
export function parseFilter(filter: string | undefined, columns: Map<string, string>): Condition[] {
  if (filter === undefined || filter.trim() === '') return [];
  return splitTop(filter, ',').map((part) => parseCondition(part.trim(), columns));
}

function holds(c: Condition, raw: unknown): boolean {
  const v = rowValue(c.kind, raw);
  if (v === undefined || (typeof v === 'number' && Number.isNaN(v))) return false; // SQL: NULL matches nothing
  const [first] = c.values as [Value];
  let result: boolean;
  switch (c.op) {
    case FilterOp.Eq: result = v === first; break;
    case FilterOp.Neq: result = v !== first; break;
    case FilterOp.Lt: result = v < first; break;
    case FilterOp.Lte: result = v <= first; break;
    case FilterOp.Gt: result = v > first; break;
    case FilterOp.Gte: result = v >= first; break;
    default: result = c.values.includes(v);
  }
  return c.negate ? !result : result;
}

/** True when the row satisfies every condition. */
export function matchesAll(conditions: readonly Condition[], row: Record<string, unknown>): boolean {
  for (const c of conditions) if (!holds(c, row[c.column])) return false;
  return true;
}

/** True for a condition an index can serve: eq or in, not negated, on a value compared exactly. */
export const isIndexable = (c: Condition): boolean =>
  !c.negate && (c.op === FilterOp.Eq || c.op === FilterOp.In) && c.kind !== ValueKind.Time;

/** The index key of a value (filter value or row value) of a given kind. */
export const indexKey = (value: Value): string => `${typeof value}:${String(value)}`;
