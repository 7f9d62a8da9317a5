import pg from 'pg';
import { ApiError, badRequest } from '../errors.js';
import { MAX_STATEMENT_VALUES } from '../limits.js';
import type { Filter, Order, RestQuery } from './params.js';
import type { RpcFunction } from './functions.js';
import type { Column, Table } from './tables.js';

/** A parameterised statement. */
export interface Statement {
  text: string;
  values: unknown[];
  /** `json`: one row `{body, n}` with the JSON array; `rowCount`: a plain DML statement (no RETURNING, so no SELECT policy applies). */
  result: 'json' | 'rowCount';
}

/** Bounds on what one statement may return (limits.ts: maxRows, maxResponseBytes). */
export interface ResultBounds {
  maxRows: number;
  maxBytes: number;
}

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
const tableRef = (t: Table) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/** @internal Collects parameters and returns their `$n::type` placeholders; at most MAX_STATEMENT_VALUES of them. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    if (this.values.length === MAX_STATEMENT_VALUES) {
      throw new ApiError(413, 'payload_too_large', `the request needs more than ${MAX_STATEMENT_VALUES} values in one statement (rows × columns, filter values)`, {
        hint: 'send fewer rows per request',
      });
    }
    this.values.push(value);
    return `$${this.values.length}::${type}`;
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

function filterSql(table: Table, f: Filter, params: Params): string {
  const col = column(table, f.column);
  const ident = quoteIdent(col.name);
  const ops = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;
  let sql: string;
  if (f.op === 'is' && f.value !== 'null' && f.value !== 'not_null' && col.type !== 'boolean') {
    throw badRequest('42804', `filter "${col.name}=is.${f.value as string}": is.${f.value as string} needs a boolean column; ${col.name} has type ${col.type}`, 'use is.null or is.not_null, or eq for a value');
  }
  if (f.op === 'is') sql = `${ident} is ${f.value === 'not_null' ? 'not null' : (f.value as string)}`;
  else if (f.op === 'in') sql = `${ident} = any(${params.add(f.value, `${col.type}[]`)})`;
  else sql = `${ident} ${ops[f.op]} ${params.add(f.value, col.type)}`;
  return f.negate ? `not (${sql})` : sql;
}

function whereSql(table: Table, filters: Filter[], params: Params): string {
  if (filters.length === 0) return '';
  return ` where ${filters.map((f) => filterSql(table, f, params)).join(' and ')}`;
}

function orderSql(table: Table, order: Order[]): string {
  if (order.length === 0) return '';
  const terms = order.map((o) => {
    const nulls = o.nulls ? ` nulls ${o.nulls}` : '';
    return `${quoteIdent(column(table, o.column).name)} ${o.descending ? 'desc' : 'asc'}${nulls}`;
  });
  return ` order by ${terms.join(', ')}`;
}

function selectList(table: Table, select: RestQuery['select']): string {
  if (select === '*') return '*';
  return select.map((name) => quoteIdent(column(table, name).name)).join(', ');
}

/**
 * Wraps a row source so PostgreSQL renders the JSON array itself (types come out right: jsonb as objects,
 * numbers as numbers). Past `maxBytes` of rendered rows the statement fails with PT413 (HTTP 413) instead:
 * the rows are materialized first (a tuplestore, which spills to disk past work_mem) and measured, so a huge
 * result costs neither PostgreSQL nor this process the memory of the whole answer, and a write whose
 * representation is too big is rolled back (mobvibe.refuse_large_response, 20261203100001_schema_roles_rls.sql).
 */
function asJsonArray(inner: string, maxBytes: number): string {
  const max = Math.trunc(maxBytes);
  return `with _rows as materialized (select row_to_json(_r)::text as j from (${inner}) _r),
    _size as (select count(*)::int as n, coalesce(sum(octet_length(j)), 0)::int8 as bytes from _rows)
    select case when _size.bytes > ${max} then mobvibe.refuse_large_response(_size.bytes, ${max})
                else (select coalesce('[' || string_agg(j, ',') || ']', '[]') from _rows) end as body,
           _size.n
      from _size`;
}

export function selectStatement(table: Table, q: RestQuery, bounds: ResultBounds): Statement {
  const params = new Params();
  let inner = `select ${selectList(table, q.select)} from ${tableRef(table)}${whereSql(table, q.filters, params)}${orderSql(table, q.order)}`;
  // db-max-rows, as PostgREST: the cap applies to every read, whatever limit was asked for.
  inner += ` limit ${Math.min(q.limit ?? Infinity, bounds.maxRows)}`;
  if (q.offset !== undefined) inner += ` offset ${q.offset}`;
  return { text: asJsonArray(inner, bounds.maxBytes), values: params.values, result: 'json' };
}

export function countStatement(table: Table, q: RestQuery): Statement {
  const params = new Params();
  return { text: `select count(*)::bigint::text as total from ${tableRef(table)}${whereSql(table, q.filters, params)}`, values: params.values, result: 'json' };
}

function toParam(col: Column, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (col.isJson) return JSON.stringify(value);
  if (typeof value === 'object') {
    throw badRequest('22P02', `column ${col.name} has type ${col.type}; got a JSON ${Array.isArray(value) ? 'array' : 'object'}`);
  }
  return String(value);
}

/** With a representation wanted, RETURNING rendered as JSON; else the plain statement, counted by rowCount. */
function returning(table: Table, q: RestQuery, wantRows: boolean, dml: string, values: unknown[], bounds: ResultBounds): Statement {
  if (!wantRows) return { text: dml, values, result: 'rowCount' };
  const text = `with _dml as (${dml} returning *) ${asJsonArray(`select ${selectList(table, q.select)} from _dml`, bounds.maxBytes).replace(/^with /, ', ')}`;
  return { text, values, result: 'json' };
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
  return returning(table, q, o.wantRows, dml, params.values, bounds);
}

export function updateStatement(table: Table, q: RestQuery, patch: Record<string, unknown>, wantRows: boolean, bounds: ResultBounds): Statement {
  const params = new Params();
  const sets = Object.entries(patch).map(([name, value]) => {
    const col = column(table, name);
    return `${quoteIdent(col.name)} = ${params.add(toParam(col, value), col.type)}`;
  });
  if (sets.length === 0) throw badRequest('PGRST102', 'PATCH body must be a JSON object with at least one column');
  const dml = `update ${tableRef(table)} set ${sets.join(', ')}${whereSql(table, q.filters, params)}`;
  return returning(table, q, wantRows, dml, params.values, bounds);
}

export function deleteStatement(table: Table, q: RestQuery, wantRows: boolean, bounds: ResultBounds): Statement {
  const params = new Params();
  const dml = `delete from ${tableRef(table)}${whereSql(table, q.filters, params)}`;
  return returning(table, q, wantRows, dml, params.values, bounds);
}

/**
 * A call of an exposed function with named arguments (`fn(a => $1::type)`), every argument given or defaulted.
 * A set-returning function answers with a JSON array of its rows; any other with its one value as JSON.
 */
export function rpcStatement(fn: RpcFunction, args: Record<string, unknown>, bounds: ResultBounds): Statement {
  const params = new Params();
  const named = fn.args
    .filter((arg) => arg.name in args)
    .map((arg) => `${quoteIdent(arg.name)} => ${params.add(toParam(arg, args[arg.name]), arg.type)}`);
  const call = `${quoteIdent(fn.schema)}.${quoteIdent(fn.name)}(${named.join(', ')})`;
  const text = fn.returnsSet
    ? asJsonArray(`select * from ${call} limit ${bounds.maxRows}`, bounds.maxBytes)
    : `select case when octet_length(_v) > ${Math.trunc(bounds.maxBytes)} then mobvibe.refuse_large_response(octet_length(_v), ${Math.trunc(bounds.maxBytes)}) else _v end as body, 1 as n
         from (select to_json(${call})::text as _v) _c`;
  return { text, values: params.values, result: 'json' };
}
