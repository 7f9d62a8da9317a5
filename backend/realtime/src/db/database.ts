import pg from 'pg';
import type { JwtClaims } from '../auth/jwt.js';
import type { Logger } from '../logger.js';

export type Queryable = pg.PoolClient;

/** A statement whose placeholders are all written `$n::type` (as the REST and Realtime layers build them). */
export interface SqlStatement {
  text: string;
  values: readonly unknown[];
}

/** The result of one statement of a batch. */
export type StatementResult = pg.QueryResult<Record<string, unknown>>;

/**
 * The connection pool, and the one way requests touch data: {@link Database.asCaller}, which runs a
 * transaction under the caller's role with `request.jwt.claims` set, as PostgREST does, so that Row Level
 * Security decides what the caller sees.
 */
export class Database {
  readonly pool: pg.Pool;
  private closing = false;

  constructor(readonly url: string, private readonly logger: Logger, max = 20) {
    this.pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
    // An idle client's connection broke (e.g. PostgreSQL restarted): the pool drops it and opens a new one later.
    // Once closing, PostgreSQL shutting down may still reach a connection the pool let go of: expected, not logged.
    this.pool.on('error', (err) => {
      if (!this.closing) this.logger.warn({ err: briefError(err) }, 'idle database connection lost');
    });
  }

  /**
   * Runs `fn` in one transaction as the JWT's role with its claims visible to SQL (`auth.uid()`).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  async asCaller<T>(claims: JwtClaims, fn: (client: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction(async (client) => {
      // One round trip: begin, switch role (validated against the fixed list by verifyJwt), set claims.
      await client.query(`begin; ${claimsSql(claims)}`);
      const result = await fn(client);
      await client.query('commit');
      return result;
    });
  }

  /**
   * Runs `statements` as the caller, like {@link Database.asCaller}, in ONE round trip: begin, role and claims,
   * the statements and commit go as one simple-protocol query, with the values inlined as escaped literals
   * (`'…'::type`, exactly what a text parameter of that type is). Returns each statement's result.
   * Values it cannot inline safely (a NUL character, objects) take the parameterised path instead.
   *
   * @example
   * const [sessions] = await db.asCallerBatch(claims, [{ text: 'select id from public.sessions where id = any($1::uuid[])', values: [ids] }]);
   */
  async asCallerBatch(claims: JwtClaims, statements: readonly SqlStatement[]): Promise<StatementResult[]> {
    const inlined = statements.map(inlineValues);
    if (inlined.some((text) => text === undefined)) {
      return this.asCaller(claims, async (c) => {
        const results: StatementResult[] = [];
        for (const s of statements) results.push(await c.query(s.text, s.values as unknown[]));
        return results;
      });
    }
    return this.inTransaction(async (client) => {
      const sql = [`begin; ${claimsSql(claims)}`, ...inlined, 'commit'].join(';\n');
      const results = (await client.query(sql)) as unknown as StatementResult[];
      return results.slice(2, 2 + statements.length);
    });
  }

  /**
   * Runs one simple-protocol query string (several statements, their own `begin`/`rollback`) on a pooled
   * connection; if it fails midway the transaction it opened is rolled back. Returns pg's result (an array for
   * several statements). For the server's own checks, whose values are escaped literals.
   */
  async simpleQuery(sql: string, opts: QueryOptions = {}): Promise<pg.QueryResult | pg.QueryResult[]> {
    return this.inTransaction(async (client) => (await client.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[], opts);
  }

  /**
   * Runs `work` on a pooled connection that it leaves with a `begin`; if `work` throws, the transaction is rolled
   * back (a failed statement of a batch leaves it aborted), and a connection that cannot even roll back is discarded.
   */
  private async inTransaction<T>(work: (client: Queryable) => Promise<T>, opts: QueryOptions = {}): Promise<T> {
    const client = await this.pool.connect();
    if (opts.stillWanted?.() === false) {
      client.release();
      throw new QueryAbandoned();
    }
    return inCheckedOutTransaction(client, work);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.pool.end();
  }
}

/**
 * Runs `work` on a client checked out of a pool, then gives it back: rolled back first if `work` threw, and
 * discarded instead of reused if its connection was lost. pg reports a lost connection as an 'error' event too,
 * besides failing the query in flight, and the pool listens for it only while a client is idle: without this
 * listener a connection lost while checked out would be an uncaught exception.
 */
export async function inCheckedOutTransaction<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let broken = false;
  const lost = () => (broken = true);
  client.on('error', lost);
  try {
    return await work(client);
  } catch (err) {
    if (!broken) await client.query('rollback').catch(() => (broken = true));
    throw err;
  } finally {
    client.off('error', lost);
    client.release(broken);
  }
}

export interface QueryOptions {
  /**
   * Asked once a pooled connection is free: false means the caller no longer needs the answer (a join its client
   * gave up on and left while the pool was busy), so nothing runs and the call throws {@link QueryAbandoned}. Under
   * a reconnect storm this keeps a client's retries from queueing the work of its abandoned attempts.
   */
  stillWanted?: () => boolean;
}

/** The caller stopped wanting a query before a connection was free for it; nothing ran. */
export class QueryAbandoned extends Error {
  override readonly name = 'QueryAbandoned';
  constructor() {
    super('the query was no longer wanted when a database connection was free; nothing ran');
  }
}

/** What is worth logging of a pg error (pg attaches its whole client to some errors). */
export function briefError(err: Error): { message: string; code?: string } {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
}

/**
 * The `set_config(...)` calls that make a transaction run as the caller, as PostgREST and Supabase Realtime set
 * them: the role (validated against the fixed list by verifyJwt), `request.jwt.claims`, `request.jwt.claim.sub`
 * and `.role`, plus any `extra` settings (e.g. `realtime.topic`). Transaction-local.
 */
export function claimsSettings(claims: JwtClaims, extra: Record<string, string> = {}): string {
  const role = pg.escapeLiteral(claims.role);
  const sub = pg.escapeLiteral(typeof claims.sub === 'string' ? claims.sub : '');
  const more = Object.entries(extra).map(([k, v]) => `,\n    set_config(${pg.escapeLiteral(k)}, ${pg.escapeLiteral(v)}, true)`).join('');
  return `set_config('role', ${role}, true),
    set_config('request.jwt.claims', ${pg.escapeLiteral(JSON.stringify(claims))}, true),
    set_config('request.jwt.claim.sub', ${sub}, true),
    set_config('request.jwt.claim.role', ${role}, true)${more}`;
}

const claimsSql = (claims: JwtClaims): string => `select ${claimsSettings(claims)}`;

/** An array literal's element: quoted, with backslash and double quote escaped. */
const arrayElement = (v: unknown): string | undefined => {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') return undefined;
  return `"${String(v).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
};

/** The literal for one value, or undefined when it has no safe text form here. */
function literal(v: unknown): string | undefined {
  if (v === null || v === undefined) return 'NULL';
  let text: string | undefined;
  if (typeof v === 'string') text = v;
  else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') text = String(v);
  else if (Array.isArray(v)) {
    const items = v.map(arrayElement);
    if (items.some((i) => i === undefined)) return undefined;
    text = `{${items.join(',')}}`;
  }
  // A NUL would end the query text inside the protocol message: such values go as parameters (and PostgreSQL refuses them).
  if (text === undefined || text.includes('\0')) return undefined;
  return pg.escapeLiteral(text); // doubles quotes; with a backslash, doubles those too and uses E'…'
}

/**
 * The statement with every `$n` placeholder replaced by its literal; undefined if one cannot be inlined. Quoted
 * identifiers and string literals are copied as they are: a `$1` inside one (a column or alias named so) is text.
 */
function inlineValues(s: SqlStatement): string | undefined {
  const t = s.text;
  let out = '';
  for (let i = 0; i < t.length; ) {
    const ch = t[i]!;
    if (ch === '"' || ch === "'") {
      let end = i + 1;
      for (;;) {
        end = t.indexOf(ch, end);
        if (end < 0) return undefined; // unbalanced: not a statement built here
        if (t[end + 1] === ch) end += 2; // a doubled quote inside
        else break;
      }
      out += t.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    const n = ch === '$' ? /^\d+/.exec(t.slice(i + 1, i + 8)) : null;
    if (n) {
      const lit = literal(s.values[Number(n[0]) - 1]);
      if (lit === undefined) return undefined;
      out += lit;
      i += 1 + n[0].length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}
