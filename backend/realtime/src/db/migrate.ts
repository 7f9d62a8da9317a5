import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../logger.js';

const LOCK_KEY = 727_001; // pg_advisory_lock key: one migrator at a time across server processes

/**
 * Applies every `*.sql` file of `dir` in name order, each in its own transaction, under an advisory lock
 * so several server processes can start at once. Applied files are recorded in mobvibe.schema_migrations
 * with a checksum; an edited file is applied again (the files are written to be idempotent).
 */
export async function migrate(pool: pg.Pool, dir: string, logger: Logger): Promise<string[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`create schema if not exists mobvibe;
      create table if not exists mobvibe.schema_migrations (
        version text primary key, checksum text not null, applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: string; checksum: string }>('select version, checksum from mobvibe.schema_migrations');
    const known = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const file of files) {
      const sql = await fs.readFile(path.join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      if (known.get(file) === checksum) continue;
      await applyOne(client, file, sql, checksum);
      logger.info({ migration: file }, 'applied migration');
      applied.push(file);
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}

async function applyOne(client: pg.PoolClient, file: string, sql: string, checksum: string): Promise<void> {
  try {
    await client.query('begin');
    await client.query(sql);
    await client.query(
      `insert into mobvibe.schema_migrations (version, checksum) values ($1, $2)
       on conflict (version) do update set checksum = excluded.checksum, applied_at = now()`,
      [file, checksum],
    );
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
  }
}
