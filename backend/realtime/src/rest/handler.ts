import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, type JwtClaims } from '../auth/jwt.js';
import { authApiError, claimsFromHeaders } from '../auth/request.js';
import type { Database, StatementResult } from '../db/database.js';
import type { GroupCommit } from '../db/groupCommit.js';
import { toApiError } from '../db/pgErrors.js';
import { ApiError, badRequest } from '../errors.js';
import { readJsonBody } from '../http/body.js';
import { clientAddress, holdRefusal, principalKey, principalKind, type InFlight, type PoolShares } from '../http/principal.js';
import type { WriteBudget } from '../http/writeBudget.js';
import { sendError, sendText, type Headers } from '../http/respond.js';
import { decodePath, type RequestTarget } from '../http/target.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../logger.js';
import { CONTENT_TYPES, negotiate, type Media } from './media.js';
import { parsePrefer, parseQuery, type Prefer, type RestQuery } from './params.js';
import { countStatement, deleteStatement, insertStatement, rpcStatement, selectStatement, updateStatement, type ResultBounds, type Statement } from './sql.js';
import type { RpcFunction, SchemaCache, Table } from './schemaCache.js';
import { validateRpcArgs, validateWrite } from './validators.js';

export interface RestContext {
  db: Database;
  /** The exposed tables and functions (read from the catalog, reloaded on NOTIFY pgrst). */
  schema: SchemaCache;
  jwtSecret: string;
  limits: Omit<Limits, 'realtime'>;
  trustProxyHops: number;
  /** Requests in flight per principal (maxRequestsInFlightPerPrincipal). */
  inFlight: InFlight;
  /** Rows written per second per principal (maxRowsWrittenPerSecond). */
  writes: WriteBudget;
  /** Database connections per principal (maxDbConnectionsPerPrincipal). */
  shares: PoolShares;
  /** Concurrent inserts of one caller share a transaction. */
  groupCommit: GroupCommit;
  logger: Logger;
}


interface Outcome {
  status: number;
  /** JSON array text, or undefined for no body. */
  body: string | undefined;
  rows: number;
  total: string | undefined;
  /** `Location` of the one row a `return=headers-only` insert wrote. */
  location?: string;
}

const RPC_PREFIX = '/rest/v1/rpc/';

/**
 * Serves `/rest/v1/<table>` and `/rest/v1/rpc/<function>`: a PostgREST-compatible subset over the tables and
 * functions of the schema cache, every query under the caller's role and RLS.
 */
export async function handleRest(req: IncomingMessage, res: ServerResponse, url: RequestTarget, ctx: RestContext): Promise<void> {
  let claims: JwtClaims | undefined;
  let principal: string | undefined;
  let entered = false;
  // Rows written so far by this request, charged to the principal's write budget at the end (writes only).
  let written: number | undefined;
  let releaseShare: (() => void) | undefined;
  try {
    claims = authenticate(req, ctx.jwtSecret);
    principal = principalKey(claims, clientAddress(req, ctx.trustProxyHops));
    ctx.inFlight.admit(principal);
    entered = true;
    if (WRITES.has(req.method ?? '')) {
      const wait = ctx.writes.waitMs(principal);
      if (wait > 0) {
        throw new ApiError(429, 'too_many_writes', `this ${principalKind(principal!)} wrote more than ${ctx.writes.perSecond} rows per second`, {
          hint: `retry in ${Math.ceil(wait / 1000)} s (Retry-After); a write costs the rows it writes`,
          retryAfter: Math.ceil(wait / 1000),
        });
      }
      written = 0;
    }
    mediaOf(req); // an Accept this server cannot answer is a 406 before anything runs
    releaseShare = await ctx.shares.acquire(principal);
    const schema = profile(req, ctx.schema.schemas);
    if (url.pathname.startsWith(RPC_PREFIX)) {
      const outcome = await call(req, schema, nameIn(url, RPC_PREFIX), url, claims, ctx);
      if (written !== undefined) written = outcome.rows;
      return respond(req, res, outcome, { offset: undefined }, 'GET');
    }
    const table = findTable(schema, nameIn(url, '/rest/v1/'), ctx.schema);
    const query = withRangeHeader(parseQuery(url.searchParams), req);
    const prefer = parsePrefer(req.headers.prefer);
    const outcome = await route(req, table, query, prefer, claims, principal, ctx);
    if (written !== undefined) written = outcome.rows;
    respond(req, res, outcome, query);
  } catch (err) {
    const apiError = toApiError(err, claims?.role === 'anon');
    // Client faults are routine (debug); only the server's own failures are errors.
    const level = apiError.status >= 500 ? 'error' : 'debug';
    ctx.logger[level]({ err: apiError, cause: apiError.cause, method: req.method, path: url.pathname }, 'REST request failed');
    // Over the write budget: answered once the client may retry (at most 1 s), still holding its in-flight slot.
    if (apiError.code === 'too_many_writes') await holdRefusal(apiError.retryAfter);
    // Over the in-flight bound: answered at once, and the connection closed (its client has enough open).
    sendError(res, apiError, apiError.code === 'too_many_requests' ? { connection: 'close' } : {});
  } finally {
    releaseShare?.();
    if (entered) ctx.inFlight.leave(principal);
    if (written !== undefined) ctx.writes.charge(principal, written);
  }
}

/**
 * A read's `Range: first-[last]` header (Range-Unit `items`), as PostgREST honours it: intersected with `limit`
 * and `offset`. Other methods ignore it, as PostgREST does.
 */
function withRangeHeader(q: RestQuery, req: IncomingMessage): RestQuery {
  const raw = req.headers.range;
  if (raw === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return q;
  const unit = req.headers['range-unit'];
  const m = /^(?:items=)?(\d{1,15})-(\d{0,15})$/.exec(raw.trim());
  if (!m || (unit !== undefined && unit !== 'items')) {
    throw badRequest('PGRST100', `Range: ${raw.slice(0, 60)}${unit === undefined ? '' : ` (Range-Unit: ${String(unit).slice(0, 20)})`}: expected first-last or first- in items`);
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (first > last) throw new ApiError(416, 'PGRST103', 'Requested range not satisfiable', { details: `the range ${raw.slice(0, 60)} ends before it starts` });
  const start = Math.max(first, q.offset ?? 0);
  const end = Math.min(last, q.limit === undefined ? Infinity : (q.offset ?? 0) + q.limit - 1);
  return { ...q, offset: start, limit: end === Infinity ? undefined : Math.max(0, end - start + 1) };
}

/** Methods that write (RPC is POST: a function may write), counted in the write budget. */
const WRITES = new Set(['POST', 'PATCH', 'DELETE']);

/** The bounds of a request's statements, and the form its answer takes (Accept). */
function boundsOf(ctx: RestContext, req: IncomingMessage): ResultBounds {
  const media = mediaOf(req);
  return { maxRows: ctx.limits.maxRows, maxBytes: ctx.limits.maxResponseBytes, csv: media.kind === 'csv', stripNulls: media.stripNulls };
}
const bodyLimits = (ctx: RestContext) => ({ maxBytes: ctx.limits.maxRequestBodyBytes, maxDepth: ctx.limits.maxJsonDepth });

function authenticate(req: IncomingMessage, secret: string): JwtClaims {
  try {
    return claimsFromHeaders(req.headers, secret);
  } catch (err) {
    if (err instanceof AuthError) throw authApiError(err);
    throw err;
  }
}

/** The table or function name the path ends with, percent-decoded; a malformed escape is a 400. */
function nameIn(url: RequestTarget, prefix: string): string {
  const name = decodePath(url.pathname.slice(prefix.length));
  if (name === undefined) throw badRequest('PGRST100', `the path ${url.pathname.slice(0, 200)} has a malformed percent-escape`);
  return name.replace(/\/$/, '');
}

function findTable(schema: string, name: string, cache: SchemaCache): Table {
  const table = cache.table(schema, name);
  if (!table) {
    const known = cache.tableNames(schema);
    throw new ApiError(404, 'PGRST205', `Could not find the table '${schema}.${name}' in the schema cache`, {
      hint: known.length ? `tables of ${schema} the API roles may use: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}` : `no table of ${schema} is granted to anon, authenticated or service_role`,
    });
  }
  return table;
}

/**
 * The overload of `name` whose arguments are the ones given (every given name known, every required one given),
 * as PostgREST chooses; none is a 404, several a 300.
 */
function findFunction(schema: string, name: string, given: string[], cache: SchemaCache): RpcFunction {
  const candidates = cache.functions(schema, name);
  const givenText = `${schema}.${name}(${given.join(', ')})`;
  if (candidates.length === 0) {
    throw new ApiError(404, 'PGRST202', `Could not find the function ${givenText} in the schema cache`, {
      hint: `no function ${schema}.${name} is granted to anon, authenticated or service_role`,
    });
  }
  const fits = candidates.filter((fn) => given.every((g) => fn.args.some((a) => a.name === g)) && fn.args.every((a) => a.optional || given.includes(a.name)));
  if (fits.length === 1) return fits[0]!;
  const signatures = candidates.map((fn) => `${schema}.${name}(${fn.args.map((a) => `${a.name}${a.optional ? '?' : ''}`).join(', ')})`).join('; ');
  if (fits.length === 0) {
    const only = candidates.length === 1 ? candidates[0]! : undefined;
    const unknown = only ? given.filter((g) => !only.args.some((a) => a.name === g)) : [];
    const missing = only ? only.args.filter((a) => !a.optional && !given.includes(a.name)).map((a) => a.name) : [];
    throw new ApiError(404, 'PGRST202', `Could not find the function ${givenText} in the schema cache`, {
      details: [unknown.length ? `unknown argument(s): ${unknown.join(', ')}` : '', missing.length ? `missing argument(s): ${missing.join(', ')}` : ''].filter(Boolean).join('; ') || undefined,
      hint: `the function is ${signatures}`,
    });
  }
  throw new ApiError(300, 'PGRST203', `Could not choose the best candidate function between: ${fits.map((fn) => `${schema}.${name}(${fn.args.map((a) => `${a.name} => ${a.type}`).join(', ')})`).join(', ')}`, {
    hint: 'name the arguments so that one overload fits, or rename one of the overloads',
  });
}

/**
 * `/rest/v1/rpc/<function>`, as PostgREST calls functions: POST with the arguments by name in a JSON object (or,
 * with `Prefer: params=single-object`, the whole body as the one json argument); GET and HEAD with them in the
 * query string, in a read-only transaction (a function that writes fails there, 405). Other query parameters
 * shape a result of rows as they shape a table's.
 */
async function call(req: IncomingMessage, schema: string, name: string, url: RequestTarget, claims: JwtClaims, ctx: RestContext): Promise<Outcome> {
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (!read && req.method !== 'POST') throw new ApiError(405, 'PGRST101', `Cannot use the ${req.method} method on RPC`);
  const prefer = parsePrefer(req.headers.prefer);
  const candidates = ctx.schema.functions(schema, name);
  let args: Record<string, unknown>;
  let shaping = url.searchParams;
  let fn: RpcFunction;
  if (read) {
    // Parameters named like an argument of the function are arguments; the others shape the result.
    const argNames = new Set(candidates.flatMap((f) => f.args.map((a) => a.name)));
    args = {};
    shaping = new URLSearchParams();
    for (const [key, value] of url.searchParams) {
      if (!argNames.has(key)) shaping.append(key, value);
      else if (key in args) throw badRequest('PGRST100', `argument ${key} of ${schema}.${name} is given twice: variadic arguments by repeated parameters are not supported; call with POST and an array`);
      else args[key] = value;
    }
    fn = findFunction(schema, name, Object.keys(args), ctx.schema);
    for (const arg of fn.args) {
      if (!arg.isJson || !(arg.name in args)) continue;
      try {
        args[arg.name] = JSON.parse(args[arg.name] as string);
      } catch {
        throw badRequest('22P02', `argument ${arg.name} of ${schema}.${name} has type ${arg.type}: ${String(args[arg.name]).slice(0, 60)} is not JSON`);
      }
    }
  } else {
    const body = await readJsonBody(req, bodyLimits(ctx));
    if (prefer.singleObject) {
      const one = candidates.filter((f) => f.args.length === 1 && f.args[0]!.isJson);
      if (one.length !== 1) {
        throw new ApiError(404, 'PGRST202', `Could not find the function ${schema}.${name} with a single json or jsonb argument in the schema cache`, { hint: 'params=single-object passes the whole body as the one json/jsonb argument' });
      }
      fn = one[0]!;
      args = { [fn.args[0]!.name]: body };
    } else {
      if (!isObject(body)) throw badRequest('PGRST102', `the body of /rest/v1/rpc/${name} must be a JSON object of arguments by name`);
      args = body;
      fn = findFunction(schema, name, Object.keys(args), ctx.schema);
    }
  }
  validateRpcArgs(fn, args);
  const stmt = rpcStatement(fn, args, parseQuery(shaping), boundsOf(ctx, req));
  const outcome = read ? await readOnly(ctx.db, claims, stmt) : await write(req, ctx.db, claims, stmt);
  if (fn.returns === 'void') return { status: 204, body: undefined, rows: 0, total: undefined };
  // One composite (not a set): the object itself, or null, as PostgREST answers it.
  if (fn.returns === 'rows' && !fn.returnsSet && outcome.body !== undefined && mediaOf(req).kind === 'array') {
    return { ...outcome, body: outcome.rows === 0 ? 'null' : outcome.body.slice(1, -1) };
  }
  return outcome;
}

/** A statement in a read-only transaction (GET and HEAD calls): a function that writes fails with 25006 (405). */
async function readOnly(db: Database, claims: JwtClaims, stmt: Statement): Promise<Outcome> {
  const [, result] = await db.asCallerBatch(claims, [{ text: 'set transaction read only', values: [] }, stmt]);
  return outcome200(stmt, result!);
}

/**
 * The schema a request addresses: Accept-Profile for GET and HEAD, Content-Profile for the others (as PostgREST
 * reads them), else the first exposed schema; one that is not exposed is a 406.
 */
function profile(req: IncomingMessage, schemas: readonly string[]): string {
  const header = req.method === 'GET' || req.method === 'HEAD' ? 'accept-profile' : 'content-profile';
  const value = req.headers[header];
  if (value === undefined) return schemas[0]!;
  if (typeof value === 'string' && schemas.includes(value)) return value;
  throw new ApiError(406, 'PGRST106', `The schema must be one of the following: ${schemas.join(', ')}`, { details: `${header}: ${String(value).slice(0, 100)}` });
}

async function route(req: IncomingMessage, table: Table, q: RestQuery, prefer: Prefer, claims: JwtClaims, principal: string | undefined, ctx: RestContext): Promise<Outcome> {
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return single(req, await read(ctx, claims, table, q, prefer, boundsOf(ctx, req)));
    case 'POST': {
      const rows = asRows(await readJsonBody(req, bodyLimits(ctx)));
      validateWrite(table, rows, 'insert');
      const columns = insertColumns(rows, q);
      // return=headers-only answers with the Location of the one row inserted: its primary key is returned for it.
      const location = prefer.return === 'headers-only' && table.primaryKey.length > 0;
      const returned = location ? { ...q, select: table.primaryKey.map((name) => ({ kind: 'field' as const, field: { name, json: [] }, alias: undefined, cast: undefined })) } : q;
      const stmt = insertStatement(table, returned, { rows, columns, resolution: prefer.resolution, missingDefault: prefer.missingDefault, wantRows: prefer.return === 'representation' || location }, boundsOf(ctx, req));
      // Inserts of one caller that come together share a transaction (group commit); `.single()` runs alone.
      const outcome = !wantsObject(req) ? outcome200(stmt, await ctx.groupCommit.run(principal, claims, stmt)) : await write(req, ctx.db, claims, stmt);
      const written = { ...outcome, status: 201, total: prefer.count ? String(outcome.rows) : undefined };
      return location ? { ...written, body: undefined, location: locationOf(table, outcome) } : written;
    }
    case 'PATCH': {
      const body = await readJsonBody(req, bodyLimits(ctx));
      if (!isObject(body)) throw badRequest('PGRST102', 'PATCH body must be a JSON object');
      validateWrite(table, [body], 'update');
      const outcome = await write(req, ctx.db, claims, updateStatement(table, q, body, prefer.return === 'representation', boundsOf(ctx, req)), prefer.maxAffected);
      return { ...outcome, total: prefer.count ? String(outcome.rows) : undefined };
    }
    case 'DELETE': {
      const outcome = await write(req, ctx.db, claims, deleteStatement(table, q, prefer.return === 'representation', boundsOf(ctx, req)), prefer.maxAffected);
      return { ...outcome, total: prefer.count ? String(outcome.rows) : undefined };
    }
    default:
      throw new ApiError(405, 'PGRST117', `method ${req.method} is not supported on /rest/v1/${table.name}`);
  }
}

/** A read: the select (and the count, when asked) in one round trip; reads need no rollback, so `.single()` is checked after. */
async function read(ctx: RestContext, claims: JwtClaims, table: Table, q: RestQuery, prefer: Prefer, bounds: ResultBounds): Promise<Outcome> {
  const select = selectStatement(table, q, bounds, ctx.schema);
  const statements = prefer.count ? [select, countStatement(table, q, ctx.schema)] : [select];
  const [rows, count] = await ctx.db.asCallerBatch(claims, statements);
  const outcome = outcome200(statements[0]!, rows!);
  if (!prefer.count) return outcome;
  const total = (count!.rows[0]?.total as string | undefined) ?? '0';
  return { ...outcome, status: rangeStatus(q.offset ?? 0, outcome.rows, Number(total)), total };
}

/**
 * The status of a read whose total is known, as PostgREST's RangeQuery gives it: 206 Partial Content when fewer
 * rows came back than there are (a limit, or the row cap), 416 when the offset is past the end.
 */
function rangeStatus(offset: number, rows: number, total: number): number {
  if (offset > total) {
    throw new ApiError(416, 'PGRST103', 'Requested range not satisfiable', { details: `An offset of ${offset} was requested, but there are only ${total} rows.` });
  }
  return rows < total ? 206 : 200;
}

/**
 * A write. `.single()` and `max-affected` (strict) must be checked before commit (a write returning another count,
 * or touching more rows, is rolled back, as PostgREST does), so those run step by step; any other write goes in
 * one round trip.
 */
async function write(req: IncomingMessage, db: Database, claims: JwtClaims, stmt: Statement, maxAffected?: number): Promise<Outcome> {
  if (wantsObject(req) || maxAffected !== undefined) {
    return db.asCaller(claims, async (c) => {
      const outcome = outcome200(stmt, await c.query(stmt.text, stmt.values));
      if (maxAffected !== undefined && outcome.rows > maxAffected) {
        throw new ApiError(400, 'PGRST124', 'Query result exceeds max-affected preference constraint', { details: `The query affects ${outcome.rows} rows` });
      }
      return single(req, outcome);
    });
  }
  const [result] = await db.asCallerBatch(claims, [stmt]);
  return outcome200(stmt, result!);
}

function outcome200(stmt: Statement, result: Pick<StatementResult, 'rows' | 'rowCount'>): Outcome {
  if (stmt.result === 'rowCount') return { status: 200, body: undefined, rows: result.rowCount ?? 0, total: undefined };
  const row = (result.rows[0] as { body: string; n: number } | undefined) ?? { body: '[]', n: 0 };
  return { status: 200, body: row.body, rows: row.n, total: undefined };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function asRows(body: unknown): Record<string, unknown>[] {
  const rows = Array.isArray(body) ? body : [body];
  if (rows.length === 0) throw badRequest('PGRST102', 'POST body must be a JSON object or a non-empty array of objects');
  rows.forEach((row, i) => {
    if (!isObject(row)) throw badRequest('PGRST102', `POST body row ${i} is not a JSON object`);
  });
  return rows as Record<string, unknown>[];
}

/** The `columns` parameter when given; else every row must have the same keys, as PostgREST requires. */
function insertColumns(rows: Record<string, unknown>[], q: RestQuery): string[] {
  if (q.columns) return q.columns;
  const first = Object.keys(rows[0]!).sort();
  rows.forEach((row, i) => {
    const keys = Object.keys(row).sort();
    if (keys.join(',') !== first.join(',')) throw badRequest('PGRST102', `All object keys must match (row ${i} differs from row 0)`);
  });
  if (first.length === 0) throw badRequest('PGRST102', 'POST body objects must have at least one column');
  return Object.keys(rows[0]!);
}

/**
 * Content-Range as PostgREST's responses give it: reads (and calls) the range they return; updates `0-(n-1)`;
 * inserts and deletes no range. The total is the count when `Prefer: count=` asked for one, else `*`.
 */
function contentRange(method: string | undefined, q: Pick<RestQuery, 'offset'>, outcome: Outcome): string {
  const total = outcome.total ?? '*';
  if (outcome.rows === 0 || method === 'POST' || method === 'DELETE') return `*/${total}`;
  const start = method === 'PATCH' ? 0 : (q.offset ?? 0);
  return `${start}-${start + outcome.rows - 1}/${total}`;
}

/** `/<table>?<pk>=eq.<value>` of the one row an insert returned (PostgREST's locationF), when it returned one. */
function locationOf(table: Table, outcome: Outcome): string | undefined {
  if (outcome.rows !== 1 || outcome.body === undefined) return undefined;
  const [row] = JSON.parse(outcome.body) as Array<Record<string, unknown>>;
  const query = table.primaryKey
    .map((name) => {
      const v = row![name];
      return `${encodeURIComponent(name)}=${v === null ? 'is.null' : encodeURIComponent(`eq.${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)}`;
    })
    .join('&');
  return `/${table.name}?${query}`;
}

/** `rangeAs`: the method whose Content-Range form applies (a call's answer is ranged as a read). */
function respond(req: IncomingMessage, res: ServerResponse, outcome: Outcome, q: Pick<RestQuery, 'offset'>, rangeAs = req.method): void {
  const headers: Headers = { 'content-range': contentRange(rangeAs, q, outcome) };
  if (outcome.location !== undefined) headers.location = outcome.location;
  const media = mediaOf(req);
  let body = outcome.body;
  if (body !== undefined) {
    // .single(): the one element of the JSON array PostgreSQL rendered
    if (media.kind === 'object') body = body.slice(1, -1);
    headers['content-type'] = CONTENT_TYPES[media.kind];
  }
  if (req.method === 'HEAD') return sendText(res, outcome.status, undefined, headers);
  // An empty 201 says so (Content-Length: 0) rather than sending an empty chunked body; a 204 has no body at all.
  if (body === undefined) return outcome.status === 201 ? sendText(res, 201, undefined, { ...headers, 'content-length': '0' }) : sendText(res, 204, undefined, headers);
  sendText(res, outcome.status, body, headers);
}

const mediaOf = (req: IncomingMessage): Media => negotiate(req.headers.accept);
const wantsObject = (req: IncomingMessage): boolean => mediaOf(req).kind === 'object';

/**
 * `.single()` asks for exactly one row. Checked inside the transaction, so a write that would return
 * another count is rolled back, as PostgREST does.
 */
function single(req: IncomingMessage, outcome: Outcome): Outcome {
  if (!wantsObject(req) || outcome.body === undefined || outcome.rows === 1) return outcome;
  throw new ApiError(406, 'PGRST116', 'JSON object requested, multiple (or no) rows returned', {
    details: `The result contains ${outcome.rows} rows`,
  });
}
