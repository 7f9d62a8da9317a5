import type pg from 'pg';

/** The publication whose tables Realtime streams (the name Supabase uses). */
export const PUBLICATION = 'supabase_realtime';
/** The schema whose published tables Realtime streams. */
export const REALTIME_SCHEMA = 'public';

/** A realtime table's columns, as change payloads describe them (`type` is the short name: int8, uuid, jsonb). */
export interface RealtimeTable {
  name: string;
  columns: Map<string, string>;
  /** The `columns` array of change payloads, serialised once. */
  columnsJson: string;
  /** Columns and type oids as the WAL last described them (walChanges.ts): a change means re-describe. */
  signature?: string;
}

/** The tables of the publication in schema public, by name; kept current by the change feed and refreshCatalog. */
export type Catalog = Map<string, RealtimeTable>;

/**
 * Reads the publication's tables in schema public and their columns (stored generated columns are left out: the
 * WAL does not carry them before PostgreSQL 18). Replaces `into`'s entries when given.
 */
export async function loadCatalog(pool: pg.Pool, into: Catalog = new Map()): Promise<Catalog> {
  const { rows } = await pool.query<{ table: string; name: string; type: string }>(
    `select c.relname as table, a.attname as name, t.typname as type
       from pg_publication_tables p
       join pg_namespace n on n.nspname = p.schemaname
       join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
       join pg_type t on t.oid = a.atttypid
      where p.pubname = $1 and p.schemaname = $2 and (p.attnames is null or a.attname = any(p.attnames))
      order by c.relname, a.attnum`,
    [PUBLICATION, REALTIME_SCHEMA],
  );
  const fresh: Catalog = new Map();
  for (const row of rows) {
    let table = fresh.get(row.table);
    if (!table) fresh.set(row.table, (table = { name: row.table, columns: new Map(), columnsJson: '' }));
    table.columns.set(row.name, row.type);
  }
  for (const table of fresh.values()) {
    table.columnsJson = JSON.stringify([...table.columns].map(([name, type]) => ({ name, type })));
  }
  for (const name of [...into.keys()]) if (!fresh.has(name)) into.delete(name);
  for (const [name, table] of fresh) {
    const known = into.get(name);
    if (!known || known.columnsJson !== table.columnsJson) into.set(name, table);
  }
  return into;
}

/**
 * A catalog refresh for joins that name a table the catalog does not know (added to the publication since):
 * at most one query per `minIntervalMs`, shared by every caller in that time. A caller that comes sooner
 * waits for the next allowed refresh (at most `minIntervalMs`), so a table published just after a refresh
 * is still found.
 */
export function catalogRefresher(pool: pg.Pool, catalog: Catalog, minIntervalMs = 1000, now = Date.now): () => Promise<void> {
  let last = -Infinity;
  let next: Promise<void> | undefined;
  return () => {
    if (next) return next;
    const wait = Math.max(0, last + minIntervalMs - now());
    next = new Promise<void>((resolve) => setTimeout(resolve, wait).unref())
      .then(() => {
        last = now();
        return loadCatalog(pool, catalog);
      })
      .then(() => undefined)
      .finally(() => {
        next = undefined;
      });
    return next;
  };
}
