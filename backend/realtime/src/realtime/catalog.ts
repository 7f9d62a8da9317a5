import type pg from 'pg';

/** Tables whose changes Realtime delivers; each has an `id` primary key and the NOTIFY triggers of migration 0002. */
export const REALTIME_TABLES = ['sessions', 'session_events'] as const;
export const REALTIME_SCHEMA = 'public';

/** A realtime table's columns, as change payloads describe them (`type` is the short name: int8, uuid, jsonb). */
export interface RealtimeTable {
  name: string;
  columns: Map<string, string>;
  /** The `columns` array of change payloads, serialised once. */
  columnsJson: string;
}

export type Catalog = Map<string, RealtimeTable>;

/** Reads the realtime tables' columns from the catalog (after migrations have run). */
export async function loadCatalog(pool: pg.Pool, names: readonly string[] = REALTIME_TABLES): Promise<Catalog> {
  const { rows } = await pool.query<{ table: string; name: string; type: string }>(
    `select c.relname as table, a.attname as name, t.typname as type
       from pg_attribute a
       join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_type t on t.oid = a.atttypid
      where n.nspname = $2 and c.relname = any($1) and a.attnum > 0 and not a.attisdropped
      order by c.relname, a.attnum`,
    [names, REALTIME_SCHEMA],
  );
  const catalog: Catalog = new Map();
  for (const row of rows) {
    let table = catalog.get(row.table);
    if (!table) catalog.set(row.table, (table = { name: row.table, columns: new Map(), columnsJson: '' }));
    table.columns.set(row.name, row.type);
  }
  for (const table of catalog.values()) {
    table.columnsJson = JSON.stringify([...table.columns].map(([name, type]) => ({ name, type })));
  }
  return catalog;
}
