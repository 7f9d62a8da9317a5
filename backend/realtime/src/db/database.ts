import pg from 'pg';
import type { JwtClaims } from '../auth/jwt.js';
import type { Logger } from '../logger.js';

export type Queryable = pg.PoolClient;

/**
 * The connection pool, and the one way requests touch data: {@link Database.asCaller}, which runs a
 * transaction under the caller's role with `request.jwt.claims` set, as PostgREST does, so that Row Level
 * Security decides what the caller sees.
 */
export class Database {
  readonly pool: pg.Pool;

  constructor(readonly url: string, private readonly logger: Logger, max = 20) {
    this.pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
    // An idle client's connection broke (e.g. PostgreSQL restarted): the pool drops it and opens a new one later.
    this.pool.on('error', (err) => this.logger.warn({ err }, 'idle database connection lost'));
  }

  /**
   * Runs `fn` in one transaction as the JWT's role with its claims visible to SQL (`auth.uid()`).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  async asCaller<T>(claims: JwtClaims, fn: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      const claimsText = client.escapeLiteral(JSON.stringify(claims));
      const sub = client.escapeLiteral(typeof claims.sub === 'string' ? claims.sub : '');
      // One round trip: begin, switch role (validated against the fixed list by verifyJwt), set claims.
      await client.query(
        `begin; select set_config('role', ${client.escapeLiteral(claims.role)}, true),
           set_config('request.jwt.claims', ${claimsText}, true),
           set_config('request.jwt.claim.sub', ${sub}, true),
           set_config('request.jwt.claim.role', ${client.escapeLiteral(claims.role)}, true)`,
      );
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
