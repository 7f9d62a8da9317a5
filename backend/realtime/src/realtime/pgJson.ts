/**
 * PostgreSQL's JSON rendering of column values (what `to_json` / `row_to_json` give), computed here from the text
 * output the WAL carries (internal). Change payloads must look exactly as they did when rows were read back with
 * `row_to_json`: jsonb as objects, bigint as numbers, timestamps in JSON's ISO 8601 form.
 *
 * The rules follow json_categorize_type in PostgreSQL's src/backend/utils/adt/json.c: domains count as their
 * base type; bool → true/false; int2/int4/int8/float4/float8/numeric → the number, quoted when it is not a JSON
 * number (NaN, Infinity); json/jsonb → the text itself; date/timestamp/timestamptz → ISO 8601 with a "T" and a
 * "+hh:mm" offset; arrays → JSON arrays of their elements; everything else → its text output as a JSON string.
 * Values this file does not render itself (composite types, user types with a cast to json, BC dates, arrays
 * with explicit bounds or of such types) are marked `sql`: the feed asks PostgreSQL for `to_json` of them.
 *
 * The replication connection runs with TimeZone=UTC, DateStyle=ISO and IntervalStyle=postgres (changeFeed.ts), so
 * the text outputs this parses have one known shape.
 */
import type pg from 'pg';

export const TypeKind = {
  Bool: 'bool',
  Number: 'number',
  Json: 'json',
  Date: 'date',
  Timestamp: 'timestamp',
  TimestampTz: 'timestamptz',
  Array: 'array',
  /** Rendered by PostgreSQL itself (composite, cast to json). */
  Sql: 'sql',
  /** Its text output as a JSON string. */
  Text: 'text',
} as const;
export type TypeKind = (typeof TypeKind)[keyof typeof TypeKind];

export interface PgType {
  oid: number;
  /** pg_type.typname: the `type` of a change's `columns` (int8, uuid, jsonb, _text). */
  name: string;
  /** A name usable in a cast (format_type). */
  castName: string;
  kind: TypeKind;
  /** Element type of an array. */
  elem: number;
  /** Array delimiter of the element type (',' except box's ';'). */
  delim: string;
}

const BUILTIN_KIND: Record<number, TypeKind> = {
  16: TypeKind.Bool,
  20: TypeKind.Number, 21: TypeKind.Number, 23: TypeKind.Number, 700: TypeKind.Number, 701: TypeKind.Number, 1700: TypeKind.Number,
  114: TypeKind.Json, 3802: TypeKind.Json,
  1082: TypeKind.Date, 1114: TypeKind.Timestamp, 1184: TypeKind.TimestampTz,
};
/** json.c looks for a cast to json only for types created after initdb. */
const FIRST_NORMAL_OBJECT_ID = 16384;

interface TypeRow {
  oid: number;
  typname: string;
  cast_name: string;
  base: number;
  typtype: string;
  elem: number;
  delim: string;
  is_array: boolean;
  json_cast: boolean;
}

const TYPE_SQL = `
  select t.oid::int8 as oid, t.typname, format_type(t.oid, null) as cast_name,
         coalesce(nullif(t.typbasetype, 0), t.oid)::int8 as base, b.typtype, b.typelem::int8 as elem,
         coalesce(e.typdelim, ',')::text as delim, (b.typelem <> 0 and b.typsubscript = 'array_subscript_handler'::regproc) as is_array,
         exists (select 1 from pg_cast c where c.castsource = b.oid and c.casttarget = 'json'::regtype) as json_cast
    from pg_type t
    join pg_type b on b.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
    left join pg_type e on e.oid = b.typelem`;

/** The types of the database, loaded once and on demand for types created later. */
export class TypeRegistry {
  private readonly types = new Map<number, PgType>();

  constructor(private readonly pool: pg.Pool) {}

  async loadAll(): Promise<void> {
    this.add((await this.pool.query<TypeRow>(TYPE_SQL)).rows);
  }

  get(oid: number): PgType | undefined {
    return this.types.get(oid);
  }

  /** Loads the given types (and their element types) if they are not known yet. */
  async ensure(oids: Iterable<number>): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => !this.types.has(o));
    if (missing.length === 0) return;
    this.add((await this.pool.query<TypeRow>(`${TYPE_SQL} where t.oid = any($1::oid[])`, [missing])).rows);
    const elems = missing.map((o) => this.types.get(o)?.elem ?? 0).filter((e) => e !== 0 && !this.types.has(e));
    if (elems.length) await this.ensure(elems);
  }

  private add(rows: TypeRow[]): void {
    for (const r of rows) {
      const oid = Number(r.oid);
      const base = Number(r.base);
      let kind: TypeKind = BUILTIN_KIND[base] ?? TypeKind.Text;
      if (r.is_array) kind = TypeKind.Array;
      else if (r.typtype === 'c') kind = TypeKind.Sql;
      else if (base >= FIRST_NORMAL_OBJECT_ID && r.json_cast) kind = TypeKind.Sql;
      this.types.set(oid, { oid, name: r.typname, castName: r.cast_name, kind, elem: Number(r.elem), delim: r.delim });
    }
  }
}

/** A value PostgreSQL must render (see the file comment). */
export const NEEDS_SQL = Symbol('needs sql');

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const DATE = /^\d{4,}-\d\d-\d\d$/;
const TIMESTAMP = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/;
const TIMESTAMPTZ = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(:\d\d)?(:\d\d)?$/;

/**
 * The JSON text of one value given its text output, or NEEDS_SQL.
 *
 * @example
 * renderValue('2026-12-02 21:42:13.5+00', registry.get(1184)!, registry) // '"2026-12-02T21:42:13.5+00:00"'
 */
export function renderValue(text: string, type: PgType, registry: TypeRegistry): string | typeof NEEDS_SQL {
  switch (type.kind) {
    case TypeKind.Bool:
      return text === 't' ? 'true' : 'false';
    case TypeKind.Number:
      return JSON_NUMBER.test(text) ? text : JSON.stringify(text);
    case TypeKind.Json:
      return text;
    case TypeKind.Date:
      if (text === 'infinity' || text === '-infinity') return `"${text}"`;
      return DATE.test(text) ? `"${text}"` : NEEDS_SQL;
    case TypeKind.Timestamp: {
      if (text === 'infinity' || text === '-infinity') return `"${text}"`;
      const m = TIMESTAMP.exec(text);
      return m ? `"${m[1]}T${m[2]}"` : NEEDS_SQL;
    }
    case TypeKind.TimestampTz: {
      if (text === 'infinity' || text === '-infinity') return `"${text}"`;
      const m = TIMESTAMPTZ.exec(text);
      return m ? `"${m[1]}T${m[2]}${m[3]}${m[4] ?? ':00'}${m[5] ?? ''}"` : NEEDS_SQL;
    }
    case TypeKind.Array: {
      const elem = registry.get(type.elem);
      if (!elem || elem.kind === TypeKind.Sql) return NEEDS_SQL;
      const parsed = parseArray(text, type.delim);
      return parsed === undefined ? NEEDS_SQL : renderArray(parsed, elem, registry);
    }
    case TypeKind.Sql:
      return NEEDS_SQL;
    default:
      return JSON.stringify(text);
  }
}

type ArrayItem = string | null | ArrayItem[];

function renderArray(items: ArrayItem[], elem: PgType, registry: TypeRegistry): string | typeof NEEDS_SQL {
  const parts: string[] = [];
  for (const item of items) {
    if (item === null) parts.push('null');
    else if (Array.isArray(item)) {
      const inner = renderArray(item, elem, registry);
      if (inner === NEEDS_SQL) return NEEDS_SQL;
      parts.push(inner);
    } else {
      const v = renderValue(item, elem, registry);
      if (v === NEEDS_SQL) return NEEDS_SQL;
      parts.push(v);
    }
  }
  return `[${parts.join(',')}]`;
}

/**
 * Parses an array's text output (`{1,2,NULL}`, `{{a,"b c"},{d,e}}`) into nested arrays of element texts.
 * Returns undefined for what it does not handle: explicit bounds (`[0:1]={...}`) and anything malformed.
 */
export function parseArray(text: string, delim = ','): ArrayItem[] | undefined {
  if (text[0] !== '{') return undefined;
  let p = 0;
  const parseLevel = (): ArrayItem[] | undefined => {
    p++; // '{'
    const out: ArrayItem[] = [];
    if (text[p] === '}') {
      p++;
      return out;
    }
    for (;;) {
      if (text[p] === '{') {
        const inner = parseLevel();
        if (!inner) return undefined;
        out.push(inner);
      } else if (text[p] === '"') {
        p++;
        let s = '';
        while (p < text.length && text[p] !== '"') {
          if (text[p] === '\\') p++;
          s += text[p++];
        }
        if (text[p] !== '"') return undefined;
        p++;
        out.push(s);
      } else {
        let end = p;
        while (end < text.length && text[end] !== delim && text[end] !== '}') end++;
        const s = text.slice(p, end);
        if (s.length === 0) return undefined;
        out.push(s === 'NULL' ? null : s);
        p = end;
      }
      if (text[p] === delim) {
        p++;
        continue;
      }
      if (text[p] === '}') {
        p++;
        return out;
      }
      return undefined;
    }
  };
  const result = parseLevel();
  return result && p === text.length ? result : undefined;
}
