/**
 * What Realtime needs of PostgreSQL to read changes from the WAL, checked once at start: `wal_level=logical`, a
 * role allowed to replicate, and a free replication slot. The embedded PostgreSQL is started with all of it
 * (embedded.ts); hosted Supabase has it; any other database is told here exactly what to set.
 */
import type pg from 'pg';
import { ConfigError } from '../errors.js';

interface Readiness {
  wal_level: string;
  can_replicate: boolean;
  role: string;
  max_slots: number;
  used_slots: number;
}

/** Throws a ConfigError saying what to change when the database cannot stream changes to this server. */
export async function checkReplicationReady(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<Readiness>(
    `select current_setting('wal_level') as wal_level,
            (select rolsuper or rolreplication from pg_roles where rolname = current_user) as can_replicate,
            current_user as role,
            current_setting('max_replication_slots')::int as max_slots,
            (select count(*)::int from pg_replication_slots) as used_slots`,
  );
  const r = rows[0]!;
  if (r.wal_level !== 'logical') {
    throw new ConfigError(
      `PostgreSQL runs with wal_level=${r.wal_level}; Realtime reads changes from the WAL and needs wal_level=logical ` +
        `(set it in postgresql.conf or with ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)`,
    );
  }
  if (!r.can_replicate) {
    throw new ConfigError(
      `role ${r.role} may not start logical replication; Realtime reads changes from the WAL: ALTER ROLE ${r.role} WITH REPLICATION ` +
        `(or connect DATABASE_URL as a role that has it)`,
    );
  }
  if (r.used_slots >= r.max_slots) {
    throw new ConfigError(
      `all ${r.max_slots} replication slots of PostgreSQL are in use; each Realtime server process needs one: raise max_replication_slots ` +
        `(and max_wal_senders) and restart PostgreSQL, or drop unused slots (select * from pg_replication_slots)`,
    );
  }
}
