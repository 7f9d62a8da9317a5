import type pg from 'pg';

export interface Column {
  name: string;
  /** SQL type as format_type() prints it, used to cast parameters (`uuid`, `jsonb`, `timestamp with time zone`). */
  type: string;
  isJson: boolean;
}

export interface Table {
  schema: 'public';
  name: string;
  columns: Map<string, Column>;
}

/** Tables the REST API and Realtime expose. Anything else is a 404, like a table absent from PostgREST's schema cache. */
export const EXPOSED_TABLES = ['sessions', 'session_events'] as const;

/** Reads the columns of the exposed tables from the catalog (after migrations have run). */
export async function loadTables(pool: pg.Pool, names: readonly string[] = EXPOSED_TABLES): Promise<Map<string, Table>> {
  const { rows } = await pool.query<{ table: string; name: string; type: string }>(
    `select c.relname as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a
       join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relname = any($1) and a.attnum > 0 and not a.attisdropped
      order by c.relname, a.attnum`,
    [names],
  );
  const tables = new Map<string, Table>();
  for (const row of rows) {
    let table = tables.get(row.table);
    if (!table) tables.set(row.table, (table = { schema: 'public', name: row.table, columns: new Map() }));
    table.columns.set(row.name, { name: row.name, type: row.type, isJson: row.type === 'json' || row.type === 'jsonb' });
  }
  return tables;
}
