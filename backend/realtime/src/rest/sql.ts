import pg from 'pg';
import { ApiError, badRequest } from '../errors.js';
import { MAX_STATEMENT_VALUES } from '../limits.js';
import { FTS_OPS, QUANT_OPS, SIMPLE_OPS, type Condition, type Embed, type EmbedQuery, type Field, type Filter, type Order, type RestQuery } from './params.js';
import type { Column, Relationships, RpcFunction, Table } from './schemaCache.js';

/** A parameterised statement. */
export interface Statement {
  text: string;
  values: unknown[];
  /** `json`: one row `{body, n}` with the JSON array; `rowCount`: a plain DML statement (no RETURNING, so no SELECT policy applies). */
  result: 'json' | 'rowCount';
}

/** Bounds on what one statement may return (limits.ts: maxRows, maxResponseBytes), and its form (media.ts). */
export interface ResultBounds {
  maxRows: number;
  maxBytes: number;
  /** Rendered as CSV (PostgREST's: a header line of the first row's keys, then each row's record text). */
  csv?: boolean;
  /** Null-valued keys left out of each row (`nulls=stripped`). */
  stripNulls?: boolean;
}

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
const tableRef = (t: Table) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/**
 * @internal Collects parameters and returns their placeholders; at most MAX_STATEMENT_VALUES of them. A typed
 * one (`$1::uuid`) carries a column's value; an untyped one is a filter's value, which PostgreSQL types by what it
 * is compared with, as PostgREST's "unknown" literals are.
 */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type?: string): string {
    if (this.values.length === MAX_STATEMENT_VALUES) {
      throw new ApiError(413, 'payload_too_large', `the request needs more than ${MAX_STATEMENT_VALUES} values in one statement (rows × columns, filter values)`, {
        hint: 'send fewer rows per request',
      });
    }
    this.values.push(value);
    return type === undefined ? `$${this.values.length}` : `$${this.values.length}::${type}`;
  }
}

function column(table: Table, name: string): Column {
  const col = table.columns.get(name);
  if (!col) {
    throw new ApiError(400, '42703', `column ${table.name}.${name} does not exist`, {
      hint: `columns of ${table.name}: ${[...table.columns.keys()].join(', ')}`,
    });
  }
  return col;
}

/**
 * A field's SQL: the column, then its JSON path (`"payload"->$1::text->>(0)`), keys as parameters (the statement's
 * text holds no value of the request); JSON paths need a json(b) column.
 */
function fieldSql(table: Table, f: Field, params: Params): string {
  const col = column(table, f.name);
  if (f.json.length > 0 && !col.isJson) {
    throw badRequest('PGRST100', `"${f.name}${f.json.map((j) => j.arrow + j.key).join('')}": a JSON path needs a json or jsonb column; ${f.name} has type ${col.type}`);
  }
  return quoteIdent(col.name) + f.json.map((j) => `${j.arrow}${j.index ? `(${Number(j.key)})` : params.add(j.key, 'text')}`).join('');
}

/** What a field is called in the answer: its alias, else the last JSON key, else the column (PostgREST's pgFmtAs). */
function outputName(f: Field, alias: string | undefined): string {
  if (alias !== undefined) return alias;
  const keys = f.json.filter((j) => !j.index);
  return keys.length > 0 ? keys[keys.length - 1]!.key : f.name;
}

/** The type a filter's field compares as: the column's, or json/jsonb/text after a JSON path. */
function fieldType(table: Table, f: Field): string {
  if (f.json.length === 0) return column(table, f.name).type;
  return f.json[f.json.length - 1]!.arrow === '->>' ? 'text' : column(table, f.name).type;
}

function filterSql(table: Table, f: Filter, params: Params): string {
  const target = fieldSql(table, f.field, params);
  const o = f.operation;
  let sql: string;
  switch (o.kind) {
    case 'is': {
      const type = fieldType(table, f.field);
      if (o.value !== 'null' && o.value !== 'not_null' && type !== 'boolean') {
        const shown = f.field.name + f.field.json.map((j) => j.arrow + j.key).join('');
        throw badRequest('42804', `filter "${shown}=is.${o.value}": is.${o.value} needs a boolean column; ${shown} has type ${type}`, 'use is.null or is.not_null, or eq for a value');
      }
      sql = `${target} is ${o.value === 'not_null' ? 'not null' : o.value}`;
      break;
    }
    case 'in':
      sql = `${target} = any(${params.add(o.values)})`;
      break;
    case 'isdistinct':
      sql = `${target} is distinct from ${params.add(o.value)}`;
      break;
    case 'fts':
      sql = `${target} @@ ${FTS_OPS[o.op]}(${o.language !== undefined ? `${params.add(o.language)}::regconfig, ` : ''}${params.add(o.value)})`;
      break;
    case 'compare': {
      const like = o.op === 'like' || o.op === 'ilike';
      const value = like ? o.value.replaceAll('*', '%') : o.value;
      const operator = o.op in QUANT_OPS ? QUANT_OPS[o.op as keyof typeof QUANT_OPS] : SIMPLE_OPS[o.op as keyof typeof SIMPLE_OPS];
      const operand = o.quant ? `${o.quant}(${params.add(value)})` : params.add(value);
      sql = `${target} ${operator} ${operand}`;
      break;
    }
  }
  return f.negate ? `not (${sql})` : sql;
}

function conditionSql(table: Table, c: Condition, params: Params): string {
  if (c.kind === 'filter') return filterSql(table, c.filter, params);
  const inner = c.children.map((child) => conditionSql(table, child, params)).join(` ${c.op} `);
  return `${c.negate ? 'not ' : ''}(${inner})`;
}

function whereSql(table: Table, where: Condition[], params: Params): string {
  if (where.length === 0) return '';
  return ` where ${where.map((c) => conditionSql(table, c, params)).join(' and ')}`;
}

function orderSql(table: Table, order: Order[], params: Params): string {
  if (order.length === 0) return '';
  const terms = order.map((o) => {
    const nulls = o.nulls ? ` nulls ${o.nulls}` : '';
    return `${fieldSql(table, o.field, params)} ${o.descending ? 'desc' : 'asc'}${nulls}`;
  });
  return ` order by ${terms.join(', ')}`;
}

/** What embedding needs while a read is built: the relationships, the embeds' own filters, fresh aliases. */
interface EmbedScope {
  relations: Relationships;
  embeds: Map<string, EmbedQuery>;
  /** Embed paths whose filters were used (any other is a 400 PGRST108). */
  used: Set<string>;
  alias: string;
  path: string[];
  next: () => string;
}

/**
 * A select list's SQL; an embedded resource becomes a correlated subquery (one object, or null, for a
 * many-to-one relationship; an array for one-to-many), and an `!inner` one adds its existence to `inner`.
 */
function selectList(table: Table, select: RestQuery['select'], params: Params, scope?: EmbedScope, inner: string[] = []): string {
  return select
    .map((item) => {
      if (item.kind === 'star') return '*';
      if (item.kind === 'embed') {
        if (!scope) throw badRequest('PGRST100', `embedding "${item.name}" is supported in reads of a table, not in this request`);
        return embedSql(table, item, params, scope, inner);
      }
      const sql = fieldSql(table, item.field, params);
      const cast = item.cast !== undefined ? `::${item.cast}` : '';
      const named = item.alias !== undefined || item.field.json.length > 0 || item.cast !== undefined;
      return named ? `${cast ? `(${sql})${cast}` : sql} as ${quoteIdent(outputName(item.field, item.alias))}` : sql;
    })
    .join(', ');
}

const NO_EMBED_QUERY: EmbedQuery = { where: [], order: [], limit: undefined, offset: undefined };

function embedSql(from: Table, e: Embed, params: Params, scope: EmbedScope, inner: string[]): string {
  const rel = scope.relations.relationship(from, e.name, e.hint);
  const alias = scope.next();
  const path = [...scope.path, e.alias ?? e.name];
  const key = path.join('.');
  const q = scope.embeds.get(key) ?? NO_EMBED_QUERY;
  scope.used.add(key);
  const join = rel.on.map(([parent, target]) => `${quoteIdent(alias)}.${quoteIdent(target)} = ${quoteIdent(scope.alias)}.${quoteIdent(parent)}`);
  const nestedInner: string[] = [];
  const list = e.select.length > 0 ? selectList(rel.target, e.select, params, { ...scope, alias, path }, nestedInner) : '';
  const conditions = [...join, ...q.where.map((c) => conditionSql(rel.target, c, params)), ...nestedInner];
  // A computed relationship's rows are its function of the parent row (PostgREST's computed relationships).
  const rows = rel.computed ? `${quoteIdent(rel.computed.schema)}.${quoteIdent(rel.computed.name)}(${quoteIdent(scope.alias)})` : tableRef(rel.target);
  const source = `from ${rows} as ${quoteIdent(alias)}${conditions.length > 0 ? ` where ${conditions.join(' and ')}` : ''}`;
  if (e.inner) inner.push(`exists (select 1 ${source})`);
  const name = quoteIdent(e.alias ?? e.name);
  if (rel.cardinality === 'many-to-one') {
    if (q.order.length > 0 || q.limit !== undefined || q.offset !== undefined) {
      throw badRequest('PGRST100', `"${key}" is a many-to-one embedding (one row): order, limit and offset do not apply to it`);
    }
    return `(select row_to_json(_e) from (select ${list} ${source}) _e) as ${name}`;
  }
  let many = `select ${list} ${source}${orderSql(rel.target, q.order, params)}`;
  if (q.limit !== undefined) many += ` limit ${q.limit}`;
  if (q.offset !== undefined) many += ` offset ${q.offset}`;
  return `coalesce((select json_agg(_e) from (${many}) _e), '[]'::json) as ${name}`;
}

/** The select list and where clause of a read, embeddings included (`!inner` ones filter the parent rows). */
function readParts(table: Table, q: RestQuery, params: Params, relations: Relationships | undefined): { list: string; from: string; where: string } {
  if (!q.select.some((i) => i.kind === 'embed')) {
    if (q.embeds.size > 0) {
      const [key] = q.embeds.keys();
      throw new ApiError(400, 'PGRST108', `'${key}' is not an embedded resource in this request`, { hint: `Verify that '${key}' is included in the 'select' query parameter.` });
    }
    return { list: selectList(table, q.select, params), from: tableRef(table), where: whereSql(table, q.where, params) };
  }
  if (!relations) throw badRequest('PGRST100', 'embedding is supported in reads of a table, not in this request');
  let n = 0;
  const scope: EmbedScope = { relations, embeds: q.embeds, used: new Set(), alias: '_0', path: [], next: () => `_${++n}` };
  const inner: string[] = [];
  const list = selectList(table, q.select, params, scope, inner);
  for (const key of q.embeds.keys()) {
    if (!scope.used.has(key)) throw new ApiError(400, 'PGRST108', `'${key}' is not an embedded resource in this request`, { hint: `Verify that '${key}' is included in the 'select' query parameter.` });
  }
  const own = q.where.map((c) => conditionSql(table, c, params));
  const all = [...own, ...inner];
  return { list, from: `${tableRef(table)} as "_0"`, where: all.length > 0 ? ` where ${all.join(' and ')}` : '' };
}

/**
 * Wraps a row source so PostgreSQL renders the JSON array itself (types come out right: jsonb as objects,
 * numbers as numbers). Past `maxBytes` of rendered rows the statement fails with PT413 (HTTP 413) instead:
 * the rows are materialized first (a tuplestore, which spills to disk past work_mem) and measured, so a huge
 * result costs neither PostgreSQL nor this process the memory of the whole answer, and a write whose
 * representation is too big is rolled back (mobvibe.refuse_large_response, 20261203100001_schema_roles_rls.sql).
 */
function asJsonArray(inner: string, bounds: ResultBounds, scalar = false): string {
  const max = Math.trunc(bounds.maxBytes);
  if (bounds.csv && !scalar) return asCsv(inner, max);
  // A set of scalars (`returns setof int`) is an array of the values, as PostgREST's pgrst_scalar.
  const row = scalar ? `coalesce(to_json(_r._s)::text, 'null')` : bounds.stripNulls ? 'json_strip_nulls(row_to_json(_r))' : 'row_to_json(_r)';
  return `with _rows as materialized (select ${row}::text as j from (${inner}) _r),
    _size as (select count(*)::int as n, coalesce(sum(octet_length(j)), 0)::int8 as bytes from _rows)
    select case when _size.bytes > ${max} then mobvibe.refuse_large_response(_size.bytes, ${max})
                else (select coalesce('[' || string_agg(j, ',') || ']', '[]') from _rows) end as body,
           _size.n
      from _size`;
}

/**
 * CSV as PostgREST renders it: the first row's column names joined by commas, a newline, then each row's record
 * text without its parentheses (PostgreSQL quotes a value holding a comma, quote, backslash, parenthesis or
 * space, doubling quotes and backslashes; NULL is empty). No rows: the empty header and a newline.
 */
function asCsv(inner: string, max: number): string {
  return `with _src as materialized (select * from (${inner}) _r),
    _rows as (select substring(_s::text, 2, length(_s::text) - 2) as line from _src _s),
    _size as (select count(*)::int as n, coalesce(sum(octet_length(line) + 1), 0)::int8 as bytes from _rows)
    select case when _size.bytes > ${max} then mobvibe.refuse_large_response(_size.bytes, ${max})
                else coalesce((select string_agg(k, ',') from json_object_keys((select row_to_json(_h) from _src _h limit 1)) k), '')
                     || chr(10) || coalesce((select string_agg(line, chr(10)) from _rows), '') end as body,
           _size.n
      from _size`;
}

export function selectStatement(table: Table, q: RestQuery, bounds: ResultBounds, relations?: Relationships): Statement {
  const params = new Params();
  const { list, from, where } = readParts(table, q, params, relations);
  let inner = `select ${list} from ${from}${where}${orderSql(table, q.order, params)}`;
  // db-max-rows, as PostgREST: the cap applies to every read, whatever limit was asked for.
  inner += ` limit ${Math.min(q.limit ?? Infinity, bounds.maxRows)}`;
  if (q.offset !== undefined) inner += ` offset ${q.offset}`;
  return { text: asJsonArray(inner, bounds), values: params.values, result: 'json' };
}

export function countStatement(table: Table, q: RestQuery, relations?: Relationships): Statement {
  const params = new Params();
  const { from, where } = readParts(table, q, params, relations);
  return { text: `select count(*)::bigint::text as total from ${from}${where}`, values: params.values, result: 'json' };
}

function toParam(col: Pick<Column, 'name' | 'type' | 'isJson'>, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (col.isJson) return JSON.stringify(value);
  if (typeof value === 'object') {
    throw badRequest('22P02', `column ${col.name} has type ${col.type}; got a JSON ${Array.isArray(value) ? 'array' : 'object'}`);
  }
  return String(value);
}

/** With a representation wanted, RETURNING rendered as JSON; else the plain statement, counted by rowCount. */
function returning(table: Table, q: RestQuery, wantRows: boolean, dml: string, params: Params, bounds: ResultBounds): Statement {
  if (!wantRows) return { text: dml, values: params.values, result: 'rowCount' };
  const text = `with _dml as (${dml} returning *) ${asJsonArray(`select ${selectList(table, q.select, params)} from _dml`, bounds).replace(/^with /, ', ')}`;
  return { text, values: params.values, result: 'json' };
}

export interface InsertOptions {
  rows: Record<string, unknown>[];
  columns: string[];
  resolution: 'ignore-duplicates' | 'merge-duplicates' | undefined;
  missingDefault: boolean;
  wantRows: boolean;
}

export function insertStatement(table: Table, q: RestQuery, o: InsertOptions, bounds: ResultBounds): Statement {
  const params = new Params();
  const cols = o.columns.map((name) => column(table, name));
  const tuples = o.rows.map((row) => {
    const cells = cols.map((col) =>
      !(col.name in row) && o.missingDefault ? 'default' : params.add(toParam(col, row[col.name]), col.type),
    );
    return `(${cells.join(', ')})`;
  });
  let dml = `insert into ${tableRef(table)} (${cols.map((c) => quoteIdent(c.name)).join(', ')}) values ${tuples.join(', ')}`;
  if (o.resolution) {
    const target = (q.onConflict ?? ['id']).map((name) => quoteIdent(column(table, name).name)).join(', ');
    if (o.resolution === 'ignore-duplicates') dml += ` on conflict (${target}) do nothing`;
    else {
      const sets = cols.map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`).join(', ');
      dml += ` on conflict (${target}) do update set ${sets}`;
    }
  }
  return returning(table, q, o.wantRows, dml, params, bounds);
}

export function updateStatement(table: Table, q: RestQuery, patch: Record<string, unknown>, wantRows: boolean, bounds: ResultBounds): Statement {
  const params = new Params();
  const sets = Object.entries(patch).map(([name, value]) => {
    const col = column(table, name);
    return `${quoteIdent(col.name)} = ${params.add(toParam(col, value), col.type)}`;
  });
  if (sets.length === 0) throw badRequest('PGRST102', 'PATCH body must be a JSON object with at least one column');
  const dml = `update ${tableRef(table)} set ${sets.join(', ')}${whereSql(table, q.where, params)}`;
  return returning(table, q, wantRows, dml, params, bounds);
}

export function deleteStatement(table: Table, q: RestQuery, wantRows: boolean, bounds: ResultBounds): Statement {
  const params = new Params();
  const dml = `delete from ${tableRef(table)}${whereSql(table, q.where, params)}`;
  return returning(table, q, wantRows, dml, params, bounds);
}

/**
 * A call of a function with named arguments (`fn(a => $1::type)`), every argument given or defaulted. A function
 * returning rows answers with a JSON array of them (one object when it returns a single composite), and `q`'s
 * select, filters, order, limit and offset apply to them as to a table's rows; a set of scalars is an array of
 * the values; a scalar is its JSON; `void` is nothing (204).
 */
export function rpcStatement(fn: RpcFunction, args: Record<string, unknown>, q: RestQuery, bounds: ResultBounds): Statement {
  const params = new Params();
  const named = fn.args
    .filter((arg) => arg.name in args)
    .map((arg) => `${quoteIdent(arg.name)} => ${params.add(toParam(arg, args[arg.name]), arg.type)}`);
  const call = `${quoteIdent(fn.schema)}.${quoteIdent(fn.name)}(${named.join(', ')})`;
  const shaped = q.where.length > 0 || q.order.length > 0 || q.limit !== undefined || q.offset !== undefined || q.select.some((s) => s.kind !== 'star');
  if (fn.returns !== 'rows' && shaped) {
    throw badRequest('PGRST100', `${fn.schema}.${fn.name} returns ${fn.returns === 'void' ? 'nothing' : 'a scalar'}: select, filters, order, limit and offset apply only to a function returning rows`);
  }
  if (fn.returns === 'void') return { text: `select ${call}`, values: params.values, result: 'rowCount' };
  if (fn.returns === 'scalar' && fn.returnsSet) {
    return { text: asJsonArray(`select _s from ${call} _s limit ${bounds.maxRows}`, bounds, true), values: params.values, result: 'json' };
  }
  if (fn.returns === 'scalar') {
    const max = Math.trunc(bounds.maxBytes);
    return {
      text: `select case when octet_length(_v) > ${max} then mobvibe.refuse_large_response(octet_length(_v), ${max}) else _v end as body, 1 as n
         from (select to_json(${call})::text as _v) _c`,
      values: params.values,
      result: 'json',
    };
  }
  const result: Table = { schema: fn.schema, name: fn.name, kind: 'table', columns: fn.columns, primaryKey: [], foreignKeys: [] };
  let inner = `select ${selectList(result, q.select, params)} from ${call} ${quoteIdent(fn.name)}${whereSql(result, q.where, params)}${orderSql(result, q.order, params)}`;
  inner += ` limit ${Math.min(q.limit ?? Infinity, bounds.maxRows)}`;
  if (q.offset !== undefined) inner += ` offset ${q.offset}`;
  return { text: asJsonArray(inner, bounds), values: params.values, result: 'json' };
}
