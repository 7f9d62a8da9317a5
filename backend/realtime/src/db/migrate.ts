import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';

const LOCK_KEY = 727_001; // pg_advisory_lock key: one migrator at a time across server processes

/**
 * Applies every `*.sql` file of `dir` not applied yet, in name order, each in its own transaction, under an
 * advisory lock so several server processes can start at once. Applied files are recorded in
 * mobvibe.schema_migrations with a checksum of their text. An applied file whose text changed since is refused
 * before anything runs (ConfigError): an applied migration is never edited, a change is a new migration. Records
 * of files no longer in `dir` (a squashed series; the files that replace it are idempotent) are left alone.
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
    const pending: Array<{ file: string; sql: string; checksum: string }> = [];
    for (const file of files) {
      const sql = await fs.readFile(path.join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const recorded = known.get(file);
      if (recorded === undefined) pending.push({ file, sql, checksum });
      else if (recorded !== checksum) {
        throw new ConfigError(
          `migration ${file} was applied to this database with a different text (sha256 ${recorded.slice(0, 12)}…, the file now has ` +
            `${checksum.slice(0, 12)}…): an applied migration is never edited. Restore the file as it was applied and put the change in a new migration`,
        );
      }
    }
    for (const { file, sql, checksum } of pending) {
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
      `insert into mobvibe.schema_migrations (version, checksum) values ($1, $2)`,
      [file, checksum],
    );
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
  }
}
