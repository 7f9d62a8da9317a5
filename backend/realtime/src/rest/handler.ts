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
import { parsePrefer, parseQuery, type Prefer, type RestQuery } from './params.js';
import type { RpcFunction } from './functions.js';
import { countStatement, deleteStatement, insertStatement, rpcStatement, selectStatement, updateStatement, type ResultBounds, type Statement } from './sql.js';
import type { Table } from './tables.js';
import { validateRpcArgs, validateWrite } from './validators.js';

export interface RestContext {
  db: Database;
  tables: Map<string, Table>;
  functions: Map<string, RpcFunction>;
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

const OBJECT_MEDIA = 'application/vnd.pgrst.object+json';

interface Outcome {
  status: number;
  /** JSON array text, or undefined for no body. */
  body: string | undefined;
  rows: number;
  total: string | undefined;
}

const RPC_PREFIX = '/rest/v1/rpc/';

/**
 * Serves `/rest/v1/<table>` and `/rest/v1/rpc/<function>`: a PostgREST-compatible subset over the exposed tables
 * and functions, every query under the caller's role and RLS.
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
    releaseShare = await ctx.shares.acquire(principal);
    if (url.pathname.startsWith(RPC_PREFIX)) {
      checkProfile(req);
      const outcome = await call(req, findFunction(url, ctx.functions), url, claims, ctx);
      if (written !== undefined) written = outcome.rows;
      return respond(req, res, outcome, { offset: undefined });
    }
    const table = findTable(url, ctx.tables);
    checkProfile(req);
    const query = parseQuery(url.searchParams);
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

/** Methods that write (RPC is POST: a function may write), counted in the write budget. */
const WRITES = new Set(['POST', 'PATCH', 'DELETE']);

const boundsOf = (ctx: RestContext): ResultBounds => ({ maxRows: ctx.limits.maxRows, maxBytes: ctx.limits.maxResponseBytes });
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

function findTable(url: RequestTarget, tables: Map<string, Table>): Table {
  const name = nameIn(url, '/rest/v1/');
  const table = tables.get(name);
  if (!table) {
    throw new ApiError(404, 'PGRST205', `Could not find the table 'public.${name}' in the schema cache`, {
      hint: `exposed tables: ${[...tables.keys()].join(', ')}`,
    });
  }
  return table;
}

function findFunction(url: RequestTarget, functions: Map<string, RpcFunction>): RpcFunction {
  const name = nameIn(url, RPC_PREFIX);
  const fn = functions.get(name);
  if (!fn) {
    throw new ApiError(404, 'PGRST202', `Could not find the function public.${name} in the schema cache`, {
      hint: `exposed functions: ${[...functions.keys()].join(', ')}`,
    });
  }
  return fn;
}

/** `POST /rest/v1/rpc/<function>` with the arguments by name in a JSON object, in one transaction. */
async function call(req: IncomingMessage, fn: RpcFunction, url: RequestTarget, claims: JwtClaims, ctx: RestContext): Promise<Outcome> {
  if (req.method !== 'POST') throw new ApiError(405, 'PGRST117', `method ${req.method} is not supported on /rest/v1/rpc/${fn.name}; call functions with POST`);
  const unsupported = [...url.searchParams.keys()];
  if (unsupported.length > 0) throw badRequest('PGRST100', `query parameters (${unsupported.join(', ')}) are not supported on /rest/v1/rpc by this server`);
  const args = await readJsonBody(req, bodyLimits(ctx));
  if (!isObject(args)) throw badRequest('PGRST102', `the body of /rest/v1/rpc/${fn.name} must be a JSON object of arguments by name`);
  const signature = `public.${fn.name}(${fn.args.map((a) => a.name).join(', ')})`;
  const unknown = Object.keys(args).filter((name) => !fn.args.some((a) => a.name === name));
  const missing = fn.args.filter((a) => !a.optional && !(a.name in args)).map((a) => a.name);
  if (unknown.length > 0 || missing.length > 0) {
    const given = `public.${fn.name}(${Object.keys(args).join(', ')})`;
    throw new ApiError(404, 'PGRST202', `Could not find the function ${given} in the schema cache`, {
      details: [unknown.length ? `unknown argument(s): ${unknown.join(', ')}` : '', missing.length ? `missing argument(s): ${missing.join(', ')}` : ''].filter(Boolean).join('; '),
      hint: `the function is ${signature}`,
    });
  }
  validateRpcArgs(fn.name, args);
  return write(req, ctx.db, claims, rpcStatement(fn, args, boundsOf(ctx)));
}

function checkProfile(req: IncomingMessage): void {
  for (const header of ['accept-profile', 'content-profile']) {
    const value = req.headers[header];
    if (value !== undefined && value !== 'public') {
      throw new ApiError(406, 'PGRST106', `The schema must be one of the following: public (got ${String(value)})`);
    }
  }
}

async function route(req: IncomingMessage, table: Table, q: RestQuery, prefer: Prefer, claims: JwtClaims, principal: string | undefined, ctx: RestContext): Promise<Outcome> {
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return single(req, await read(ctx.db, claims, table, q, prefer, boundsOf(ctx)));
    case 'POST': {
      const rows = asRows(await readJsonBody(req, bodyLimits(ctx)));
      validateWrite(table.name, rows, 'insert');
      const columns = insertColumns(rows, q);
      const stmt = insertStatement(table, q, { rows, columns, resolution: prefer.resolution, missingDefault: prefer.missingDefault, wantRows: prefer.returnRepresentation }, boundsOf(ctx));
      // Inserts of one caller that come together share a transaction (group commit); `.single()` runs alone.
      if (!wantsObject(req)) return { ...outcome200(stmt, await ctx.groupCommit.run(principal, claims, stmt)), status: 201 };
      return { ...(await write(req, ctx.db, claims, stmt)), status: 201 };
    }
    case 'PATCH': {
      const body = await readJsonBody(req, bodyLimits(ctx));
      if (!isObject(body)) throw badRequest('PGRST102', 'PATCH body must be a JSON object');
      validateWrite(table.name, [body], 'update');
      return write(req, ctx.db, claims, updateStatement(table, q, body, prefer.returnRepresentation, boundsOf(ctx)));
    }
    case 'DELETE':
      return write(req, ctx.db, claims, deleteStatement(table, q, prefer.returnRepresentation, boundsOf(ctx)));
    default:
      throw new ApiError(405, 'PGRST117', `method ${req.method} is not supported on /rest/v1/${table.name}`);
  }
}

/** A read: the select (and the count, when asked) in one round trip; reads need no rollback, so `.single()` is checked after. */
async function read(db: Database, claims: JwtClaims, table: Table, q: RestQuery, prefer: Prefer, bounds: ResultBounds): Promise<Outcome> {
  const select = selectStatement(table, q, bounds);
  const statements = prefer.count ? [select, countStatement(table, q)] : [select];
  const [rows, count] = await db.asCallerBatch(claims, statements);
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
 * A write. `.single()` must be checked before commit (a write returning another count is rolled back, as
 * PostgREST does), so it runs step by step; any other write goes in one round trip.
 */
async function write(req: IncomingMessage, db: Database, claims: JwtClaims, stmt: Statement): Promise<Outcome> {
  if (wantsObject(req)) return db.asCaller(claims, async (c) => single(req, outcome200(stmt, await c.query(stmt.text, stmt.values))));
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

function contentRange(q: Pick<RestQuery, 'offset'>, outcome: Outcome): string {
  const total = outcome.total ?? '*';
  if (outcome.rows === 0) return `*/${total}`;
  const start = q.offset ?? 0;
  return `${start}-${start + outcome.rows - 1}/${total}`;
}

function respond(req: IncomingMessage, res: ServerResponse, outcome: Outcome, q: Pick<RestQuery, 'offset'>): void {
  const headers: Headers = { 'content-range': contentRange(q, outcome) };
  let body = outcome.body;
  if (wantsObject(req) && body !== undefined) {
    body = body.slice(1, -1); // the single element of the JSON array PostgreSQL rendered
    headers['content-type'] = `${OBJECT_MEDIA}; charset=utf-8`;
  }
  if (req.method === 'HEAD') return sendText(res, outcome.status, undefined, headers);
  // An empty 201 says so (Content-Length: 0) rather than sending an empty chunked body; a 204 has no body at all.
  if (body === undefined) return outcome.status === 201 ? sendText(res, 201, undefined, { ...headers, 'content-length': '0' }) : sendText(res, 204, undefined, headers);
  sendText(res, outcome.status, body, headers);
}

const wantsObject = (req: IncomingMessage): boolean => (req.headers.accept ?? '').includes(OBJECT_MEDIA);

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
