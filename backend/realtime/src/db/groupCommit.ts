import pg from 'pg';
import type { JwtClaims } from '../auth/jwt.js';
import type { Database, SqlStatement, StatementResult } from './database.js';

/** How many waiting writes one shared transaction takes at most (the rest go in the next one). */
export const GROUP_COMMIT_MAX_STATEMENTS = 32;

interface Waiting {
  stmt: SqlStatement;
  resolve: (r: StatementResult) => void;
  reject: (err: unknown) => void;
}

interface Group {
  claims: JwtClaims;
  queue: Waiting[];
}

/**
 * Group commit of REST inserts on the server: inserts of one caller (same principal, same claims) that arrive while
 * another of theirs is in the database wait for it, then go together in ONE transaction (begin, the caller's role
 * and claims, each insert, commit: one round trip, one commit record, one WAL flush). With nothing in flight an
 * insert goes at once, alone, as before: group commit costs no latency at low load and saves PostgreSQL the
 * per-transaction work (~40 % of its CPU per single-row write) when writers come together.
 *
 * Each request keeps its own answer and its own atomicity: if the shared transaction fails with an ERROR (a
 * constraint, RLS, a trigger's raise, a deadlock; PostgreSQL then rolled all of it back, nothing is stored), each
 * of its inserts is run again in a transaction of its own, so only the faulty ones fail, with their own error. A
 * failure that leaves the outcome unknown (the connection lost, PostgreSQL stopping) is not retried: every
 * request of the batch gets it, as a lone request would. What requests of one batch share: `now()` (the
 * transaction's start) and the commit. Different principals never share a transaction, so no user waits on
 * another's writes.
 *
 * @example
 * const commits = new GroupCommit(db);
 * const result = await commits.run(`${principal}`, claims, insertStatement(...));
 */
export class GroupCommit {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly db: Database, private readonly maxStatements = GROUP_COMMIT_MAX_STATEMENTS) {}

  /**
   * Runs `stmt` as the caller, sharing a transaction with the caller's other writes that are waiting.
   * `key` names the principal (see principalKey; service_role has none): callers with different keys never share.
   */
  run(key: string | undefined, claims: JwtClaims, stmt: SqlStatement): Promise<StatementResult> {
    const groupKey = `${key ?? ''}\n${JSON.stringify(claims)}`;
    return new Promise((resolve, reject) => {
      const waiting = { stmt, resolve, reject };
      const group = this.groups.get(groupKey);
      if (group) return void group.queue.push(waiting);
      const fresh: Group = { claims, queue: [waiting] };
      this.groups.set(groupKey, fresh);
      void this.drain(groupKey, fresh);
    });
  }

  /** One batch in flight per group: while it runs, new writes queue; then the next batch takes them. */
  private async drain(groupKey: string, group: Group): Promise<void> {
    while (group.queue.length > 0) {
      const batch = group.queue.splice(0, this.maxStatements);
      await this.runBatch(group.claims, batch);
    }
    this.groups.delete(groupKey);
  }

  private async runBatch(claims: JwtClaims, batch: Waiting[]): Promise<void> {
    try {
      const results = await this.db.asCallerBatch(claims, batch.map((w) => w.stmt));
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1 || !rolledBack(err)) return batch.forEach((w) => w.reject(err));
      // Nothing of the batch is stored: each goes again alone, and gets its own answer.
      await Promise.all(batch.map((w) => this.db.asCallerBatch(claims, [w.stmt]).then(([r]) => w.resolve(r!), w.reject)));
    }
  }
}

/**
 * Whether PostgreSQL reported an ERROR for the transaction, which it then rolled back as a whole (the session
 * survives): safe to run its statements again. A FATAL or a lost connection may have come after the commit.
 */
function rolledBack(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.severity === 'ERROR';
}
