import pg from 'pg';
import { ApiError, badRequest } from '../errors.js';
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

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
const tableRef = (t: Table) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/** @internal Collects parameters and returns their `$n::type` placeholders. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
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
  if (f.op === 'is') sql = `${ident} is ${f.value as string}`;
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

/** Wraps a row source so PostgreSQL renders the JSON array itself (types come out right: jsonb as objects, numbers as numbers). */
const asJsonArray = (inner: string) => `select coalesce(json_agg(_r), '[]'::json)::text as body, count(*)::int as n from (${inner}) _r`;

export function selectStatement(table: Table, q: RestQuery): Statement {
  const params = new Params();
  let inner = `select ${selectList(table, q.select)} from ${tableRef(table)}${whereSql(table, q.filters, params)}${orderSql(table, q.order)}`;
  if (q.limit !== undefined) inner += ` limit ${q.limit}`;
  if (q.offset !== undefined) inner += ` offset ${q.offset}`;
  return { text: asJsonArray(inner), values: params.values, result: 'json' };
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
function returning(table: Table, q: RestQuery, wantRows: boolean, dml: string, values: unknown[]): Statement {
  if (!wantRows) return { text: dml, values, result: 'rowCount' };
  const text = `with _dml as (${dml} returning *) ${asJsonArray(`select ${selectList(table, q.select)} from _dml`)}`;
  return { text, values, result: 'json' };
}

export interface InsertOptions {
  rows: Record<string, unknown>[];
  columns: string[];
  resolution: 'ignore-duplicates' | 'merge-duplicates' | undefined;
  missingDefault: boolean;
  wantRows: boolean;
}

export function insertStatement(table: Table, q: RestQuery, o: InsertOptions): Statement {
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
  return returning(table, q, o.wantRows, dml, params.values);
}

export function updateStatement(table: Table, q: RestQuery, patch: Record<string, unknown>, wantRows: boolean): Statement {
  const params = new Params();
  const sets = Object.entries(patch).map(([name, value]) => {
    const col = column(table, name);
    return `${quoteIdent(col.name)} = ${params.add(toParam(col, value), col.type)}`;
  });
  if (sets.length === 0) throw badRequest('PGRST102', 'PATCH body must be a JSON object with at least one column');
  const dml = `update ${tableRef(table)} set ${sets.join(', ')}${whereSql(table, q.filters, params)}`;
  return returning(table, q, wantRows, dml, params.values);
}

export function deleteStatement(table: Table, q: RestQuery, wantRows: boolean): Statement {
  const params = new Params();
  const dml = `delete from ${tableRef(table)}${whereSql(table, q.filters, params)}`;
  return returning(table, q, wantRows, dml, params.values);
}

/**
 * A call of an exposed function with named arguments (`fn(a => $1::type)`), every argument given or defaulted.
 * A set-returning function answers with a JSON array of its rows; any other with its one value as JSON.
 */
export function rpcStatement(fn: RpcFunction, args: Record<string, unknown>): Statement {
  const params = new Params();
  const named = fn.args
    .filter((arg) => arg.name in args)
    .map((arg) => `${quoteIdent(arg.name)} => ${params.add(toParam(arg, args[arg.name]), arg.type)}`);
  const call = `${quoteIdent(fn.schema)}.${quoteIdent(fn.name)}(${named.join(', ')})`;
  const text = fn.returnsSet ? asJsonArray(`select * from ${call}`) : `select to_json(${call})::text as body, 1 as n`;
  return { text, values: params.values, result: 'json' };
}
