import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL the tests use: TEST_DATABASE_URL (set by scripts/run-tests.mjs, which starts an embedded
 * PostgreSQL under os.tmpdir()) or DATABASE_URL. Always a real server, never a mock.
 */
export function adminDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (!url) throw new Error('no database for tests: run them with `npm test` (which starts one), or set DATABASE_URL');
  return url;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the test server, so test files never see each other's rows. */
export async function createTestDatabase(prefix = 'mv_test'): Promise<TestDatabase> {
  const admin = adminDatabaseUrl();
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await withAdmin(admin, (c) => c.query(`create database "${name}"`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin(admin, (c) => dropDatabase(c, name)),
  };
}

/**
 * A pool's end() resolves before its sockets have closed. Waiting (up to 2 s) for those backends to exit keeps
 * `with (force)` from sending a late "terminating connection due to administrator command" to a client that
 * already let go of its error listeners (an uncaught exception in the test process).
 */
async function dropDatabase(c: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const { rows } = await c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
    if (rows[0]!.n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await c.query(`drop database if exists "${name}" with (force)`);
}

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
