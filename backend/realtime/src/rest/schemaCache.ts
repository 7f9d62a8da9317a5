/**
 * The schema cache, as PostgREST keeps one: the tables, views and functions of the exposed schemas that an API
 * role (anon, authenticated, service_role) holds a privilege on, read from the catalog with their columns,
 * primary keys and foreign keys. What a role may then do with them is decided by PostgreSQL alone (grants and
 * Row Level Security); nothing here lists tables by name.
 *
 * Reloaded after this server's migrations, on `NOTIFY pgrst, 'reload schema'` (or a bare `NOTIFY pgrst`), as
 * PostgREST and Supabase do, and after the listening connection comes back (a notification may have been
 * missed meanwhile). The migration 20261206100001_schema_cache_reload.sql makes DDL send that notification,
 * as hosted Supabase's `pgrst_ddl_watch` event triggers do.
 */
import pg from 'pg';
import { backoff } from '../backoff.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface Column {
  name: string;
  /** SQL type as format_type() prints it, used to cast parameters (`uuid`, `jsonb`, `timestamp with time zone`). */
  type: string;
  isJson: boolean;
  nullable: boolean;
}

export interface ForeignKey {
  /** The constraint's name (`session_events_session_id_fkey`), PostgREST's way to disambiguate an embedding. */
  name: string;
  columns: string[];
  references: { schema: string; table: string; columns: string[] };
}

export interface Table {
  schema: string;
  name: string;
  kind: 'table' | 'view' | 'materialized view' | 'foreign table';
  columns: Map<string, Column>;
  primaryKey: string[];
  foreignKeys: ForeignKey[];
}

export interface FunctionArg {
  name: string;
  /** SQL type as format_type() prints it, used to cast the argument (`jsonb`, `uuid`, `integer`). */
  type: string;
  isJson: boolean;
  /** Whether the argument may be left out (it has a default). */
  optional: boolean;
}

export interface RpcFunction {
  schema: string;
  name: string;
  args: FunctionArg[];
  /** Returns a set (`setof`, `returns table`): answered as a JSON array of rows; otherwise as one JSON value. */
  returnsSet: boolean;
  /** `v`olatile, `s`table or `i`mmutable (pg_proc.provolatile). A GET runs in a read-only transaction, as PostgREST's. */
  volatility: 'v' | 's' | 'i';
  /** `void`: answered 204; `scalar`: one value; `rows`: rows of `columns` (a composite, `returns table`, OUT arguments). */
  returns: 'void' | 'scalar' | 'rows';
  /** The result's columns when it returns rows, so select, filters and order apply to them as to a table's. */
  columns: Map<string, Column>;
}

/** How an embedded table relates to the one it is embedded in, through one foreign key. */
export interface Relationship {
  target: Table;
  /** `many-to-one`: the parent's foreign key points at the target (one row or null); `one-to-many`: the target's points at the parent (an array). */
  cardinality: 'many-to-one' | 'one-to-many';
  /** The foreign key, or for a computed relationship its function (`name` is the function's, no columns). */
  fk: ForeignKey;
  /** Pairs of [parent column, target column] that must be equal (none for a computed relationship). */
  on: Array<[string, string]>;
  /** A computed relationship: the target rows are `function(parent row)`. */
  computed?: { schema: string; name: string };
}

/** Finds relationships for embedding; sql.ts asks it while building a statement. */
export interface Relationships {
  relationship(from: Table, name: string, hint: string | undefined): Relationship;
}

/** The roles PostgREST serves (Supabase's): an object none of them holds a privilege on is not in the cache. */
export const API_ROLES = ['anon', 'authenticated', 'service_role'] as const;

/** One reading of the catalog. Keys are `schema.name`; functions keep every overload of a name. */
export interface SchemaSnapshot {
  schemas: readonly string[];
  tables: Map<string, Table>;
  functions: Map<string, RpcFunction[]>;
  /** Computed relationships, by the parent table's `schema.name`. */
  computed: Map<string, ComputedRelationship[]>;
}

/**
 * A computed relationship, as PostgREST has them: a function of an exposed schema taking one row of a table and
 * returning rows of another (`create function public.sessions(public.session_events) returns setof
 * public.sessions rows 1`). Its name is the embedding's name; `rows 1` (or a single row) makes it to-one.
 */
export interface ComputedRelationship {
  /** The function, `schema.name`. */
  schema: string;
  name: string;
  target: { schema: string; table: string };
  toOne: boolean;
}

const KINDS: Record<string, Table['kind']> = { r: 'table', p: 'table', v: 'view', m: 'materialized view', f: 'foreign table' };

/** Reads the exposed objects of `schemas` from the catalog, in three queries on one connection. */
export async function readSchema(db: pg.Pool | pg.ClientBase, schemas: readonly string[]): Promise<SchemaSnapshot> {
  const roles = [...API_ROLES];
  // has_*_privilege(role, ...) fails for a role that does not exist (an external database without Supabase's
  // roles): only existing ones are asked about.
  const columns = await db.query<{ schema: string; table: string; kind: string; name: string; type: string; nullable: boolean }>(
    `with api as (select rolname from pg_roles where rolname = any($2::text[]))
     select n.nspname as schema, c.relname as table, c.relkind::text as kind, a.attname as name,
            format_type(a.atttypid, a.atttypmod) as type, not a.attnotnull as nullable
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
        and exists (select 1 from api
                     where has_table_privilege(api.rolname, c.oid, 'select, insert, update, delete')
                        or has_any_column_privilege(api.rolname, c.oid, 'select, insert, update'))
      order by n.nspname, c.relname, a.attnum`,
    [schemas, roles],
  );
  const tables = new Map<string, Table>();
  for (const row of columns.rows) {
    const key = `${row.schema}.${row.table}`;
    let table = tables.get(key);
    if (!table) tables.set(key, (table = { schema: row.schema, name: row.table, kind: KINDS[row.kind]!, columns: new Map(), primaryKey: [], foreignKeys: [] }));
    table.columns.set(row.name, { name: row.name, type: row.type, isJson: row.type === 'json' || row.type === 'jsonb', nullable: row.nullable });
  }
  const constraints = await db.query<{ schema: string; table: string; kind: string; name: string; columns: string[]; ref_schema: string | null; ref_table: string | null; ref_columns: string[] | null }>(
    `select n.nspname as schema, c.relname as table, k.contype::text as kind, k.conname as name,
            array(select a.attname from unnest(k.conkey) with ordinality u(attnum, i)
                    join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum order by u.i)::text[] as columns,
            rn.nspname as ref_schema, r.relname as ref_table,
            case when k.contype = 'f' then array(select a.attname from unnest(k.confkey) with ordinality u(attnum, i)
                    join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum order by u.i)::text[] end as ref_columns
       from pg_constraint k
       join pg_class c on c.oid = k.conrelid
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_class r on r.oid = k.confrelid
       left join pg_namespace rn on rn.oid = r.relnamespace
      where n.nspname = any($1::text[]) and k.contype in ('p', 'f')
      order by n.nspname, c.relname, k.conname`,
    [schemas],
  );
  for (const row of constraints.rows) {
    const table = tables.get(`${row.schema}.${row.table}`);
    if (!table) continue;
    if (row.kind === 'p') table.primaryKey = row.columns;
    else table.foreignKeys.push({ name: row.name, columns: row.columns, references: { schema: row.ref_schema!, table: row.ref_table!, columns: row.ref_columns! } });
  }
  const procs = await db.query<{ schema: string; name: string; arg_names: string[] | null; arg_types: string[]; defaults: number; returns_set: boolean; volatility: 'v' | 's' | 'i'; return_type: string; out_names: string[] | null; out_types: string[] | null }>(
    // proargnames also names OUT arguments (those of `returns table`), in declaration order; proargmodes says which
    // are inputs, and is null when all are. Trigger functions and those taking `internal` cannot be called.
    `with api as (select rolname from pg_roles where rolname = any($2::text[]))
     select n.nspname as schema, p.proname as name, p.pronargdefaults as defaults, p.proretset as returns_set,
            p.provolatile::text as volatility,
            case when p.proargmodes is null then p.proargnames
                 else array(select u.name from unnest(p.proargnames, p.proargmodes) with ordinality as u(name, mode, i)
                             where u.mode in ('i', 'b', 'v') order by u.i) end as arg_names,
            array(select format_type(t, null) from unnest(p.proargtypes) with ordinality as a(t, i) order by i) as arg_types,
            p.prorettype::regtype::text as return_type,
            -- The result's columns: OUT and TABLE arguments, else the attributes of a composite return type.
            coalesce(
              case when p.proargmodes is not null then
                nullif(array(select u.name from unnest(p.proargnames, p.proargmodes) with ordinality as u(name, mode, i)
                       where u.mode in ('o', 'b', 't') order by u.i), '{}') end,
              array(select a.attname from pg_attribute a where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum)
            ) as out_names,
            coalesce(
              case when p.proargmodes is not null then
                nullif(array(select format_type(u.t, null) from unnest(p.proallargtypes, p.proargmodes) with ordinality as u(t, mode, i)
                       where u.mode in ('o', 'b', 't') order by u.i), '{}') end,
              array(select format_type(a.atttypid, a.atttypmod) from pg_attribute a where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum)
            ) as out_types
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       join pg_type rt on rt.oid = p.prorettype
      where n.nspname = any($1::text[]) and p.prokind = 'f'
        and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
        and not ('internal'::regtype = any(p.proargtypes))
        and exists (select 1 from api where has_function_privilege(api.rolname, p.oid, 'execute'))
      order by n.nspname, p.proname, p.oid`,
    [schemas, roles],
  );
  const functions = new Map<string, RpcFunction[]>();
  for (const row of procs.rows) {
    const args = row.arg_types.map((type, i) => ({
      name: row.arg_names?.[i] ?? '',
      type,
      isJson: type === 'json' || type === 'jsonb',
      optional: i >= row.arg_types.length - row.defaults,
    }));
    // Arguments are passed by name: a function with an unnamed one cannot be called that way.
    if (args.some((a) => a.name === '')) continue;
    const key = `${row.schema}.${row.name}`;
    const list = functions.get(key) ?? [];
    const outNames = row.out_names ?? [];
    const columns = new Map<string, Column>(
      outNames.map((name, i) => {
        const type = row.out_types?.[i] ?? 'text';
        return [name, { name, type, isJson: type === 'json' || type === 'jsonb', nullable: true }];
      }),
    );
    const returns = row.return_type === 'void' ? 'void' : columns.size > 0 ? 'rows' : 'scalar';
    list.push({ schema: row.schema, name: row.name, args, returnsSet: row.returns_set, volatility: row.volatility, returns, columns });
    functions.set(key, list);
  }
  // Computed relationships: one argument of a table's row type, a table's row type (or a set of them) returned.
  const computed = await db.query<{ schema: string; name: string; from_schema: string; from_table: string; to_schema: string; to_table: string; to_one: boolean }>(
    `select n.nspname as schema, p.proname as name, fn.nspname as from_schema, fc.relname as from_table,
            tn.nspname as to_schema, tc.relname as to_table, (not p.proretset or p.prorows = 1) as to_one
       from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
       join pg_type ft on ft.oid = p.proargtypes[0]
       join pg_class fc on fc.oid = ft.typrelid and fc.relkind in ('r', 'p', 'v', 'm', 'f')
       join pg_namespace fn on fn.oid = fc.relnamespace
       join pg_type tt on tt.oid = p.prorettype
       join pg_class tc on tc.oid = tt.typrelid and tc.relkind in ('r', 'p', 'v', 'm', 'f')
       join pg_namespace tn on tn.oid = tc.relnamespace
      where n.nspname = any($1::text[]) and p.prokind = 'f' and p.pronargs = 1
      order by n.nspname, p.proname`,
    [schemas],
  );
  const relations = new Map<string, ComputedRelationship[]>();
  for (const row of computed.rows) {
    const key = `${row.from_schema}.${row.from_table}`;
    const list = relations.get(key) ?? [];
    list.push({ schema: row.schema, name: row.name, target: { schema: row.to_schema, table: row.to_table }, toOne: row.to_one });
    relations.set(key, list);
  }
  return { schemas, tables, functions, computed: relations };
}

export interface SchemaCacheOptions {
  databaseUrl: string;
  /** The exposed schemas, the default first (PostgREST's db-schemas; MOBVIBE_DB_SCHEMAS). */
  schemas: readonly string[];
  logger: Logger;
  /** Delay before reconnect attempt n of the listening connection. */
  backoff?: (attempt: number) => number;
}

/** The channel PostgREST listens on (its db-channel), with the payloads it understands. */
const CHANNEL = 'pgrst';
const RELOADS = new Set(['', 'reload schema']);

/**
 * The current snapshot, swapped whole on every reload: a request keeps the snapshot it started with.
 *
 * @example
 * const cache = await SchemaCache.start({ databaseUrl, schemas: ['public'], logger });
 * cache.table('public', 'projects')?.columns.get('name')
 */
export class SchemaCache {
  private snapshot: SchemaSnapshot;
  private listener: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Set while a reload runs; a notification meanwhile asks for one more after it. */
  private reloading: Promise<void> | undefined;
  private again = false;

  private constructor(private readonly opts: SchemaCacheOptions, first: SchemaSnapshot) {
    this.snapshot = first;
  }

  /** Reads the catalog, then listens for reload notifications. */
  static async start(opts: SchemaCacheOptions): Promise<SchemaCache> {
    const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'mobvibe schema cache' });
    await client.connect();
    let first: SchemaSnapshot;
    try {
      first = await readSchema(client, opts.schemas);
    } finally {
      await client.end().catch(() => undefined);
    }
    const cache = new SchemaCache(opts, first);
    await cache.listen();
    return cache;
  }

  get schemas(): readonly string[] {
    return this.opts.schemas;
  }

  table(schema: string, name: string): Table | undefined {
    return this.snapshot.tables.get(`${schema}.${name}`);
  }

  tableNames(schema: string): string[] {
    return [...this.snapshot.tables.values()].filter((t) => t.schema === schema).map((t) => t.name);
  }

  functions(schema: string, name: string): RpcFunction[] {
    return this.snapshot.functions.get(`${schema}.${name}`) ?? [];
  }

  /**
   * The one foreign key relating `from` and the table `name` (in `from`'s schema), either way, as PostgREST
   * resolves `select=*,name(*)`; `hint` (a constraint or column name, `name!hint(*)`) picks among several. None
   * is a 400 PGRST200, several a 300 PGRST201 that lists the hints to use.
   */
  relationship(from: Table, name: string, hint: string | undefined): Relationship {
    const found: Relationship[] = [];
    const target = this.table(from.schema, name);
    if (target) {
      for (const fk of from.foreignKeys) {
        if (fk.references.schema === target.schema && fk.references.table === target.name) {
          found.push({ target, cardinality: 'many-to-one', fk, on: fk.columns.map((col, i) => [col, fk.references.columns[i]!]) });
        }
      }
      for (const fk of target.foreignKeys) {
        if (fk.references.schema === from.schema && fk.references.table === from.name) {
          found.push({ target, cardinality: 'one-to-many', fk, on: fk.columns.map((col, i) => [fk.references.columns[i]!, col]) });
        }
      }
    }
    for (const c of this.snapshot.computed.get(`${from.schema}.${from.name}`) ?? []) {
      const to = this.table(c.target.schema, c.target.table);
      if (c.name !== name || !to) continue;
      found.push({
        target: to,
        cardinality: c.toOne ? 'many-to-one' : 'one-to-many',
        fk: { name: c.name, columns: [], references: { schema: to.schema, table: to.name, columns: [] } },
        on: [],
        computed: { schema: c.schema, name: c.name },
      });
    }
    const fits = hint === undefined ? found : found.filter((r) => r.fk.name === hint || r.fk.columns.includes(hint));
    if (fits.length === 1) return fits[0]!;
    if (fits.length === 0) {
      throw new ApiError(400, 'PGRST200', `Could not find a relationship between '${from.name}' and '${name}' in the schema cache`, {
        details: target ? `no foreign key between ${from.schema}.${from.name} and ${target.schema}.${target.name}${hint ? ` named or on a column "${hint}"` : ''}` : `${from.schema}.${name} is not a table of the schema cache`,
        hint: 'embedding follows foreign keys between tables of the exposed schemas',
      });
    }
    throw new ApiError(300, 'PGRST201', `Could not embed because more than one relationship was found for '${from.name}' and '${name}'`, {
      details: fits.map((r) => `${r.cardinality} using ${r.fk.name}(${r.fk.columns.join(', ')})`).join('; '),
      hint: `Try changing '${name}' to one of the following: ${fits.map((r) => `'${name}!${r.fk.name}'`).join(', ')}`,
    });
  }

  /** Reads the catalog again; concurrent calls share one reading, and one asked for during a reading runs after it. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        try {
          const next = await this.withClient((c) => readSchema(c, this.opts.schemas));
          this.snapshot = next;
          this.opts.logger.info({ tables: next.tables.size, functions: next.functions.size }, 'schema cache reloaded');
        } catch (err) {
          // The previous snapshot stays in use; the next notification (or reconnect) tries again.
          this.opts.logger.warn({ err }, 'schema cache reload failed; keeping the previous one');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.reloading;
  }

  private async withClient<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'mobvibe schema cache' });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Connects and LISTENs; the connection counts as the listener only once both worked. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'mobvibe schema cache' });
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.opts.logger.warn({ err }, 'schema cache lost its LISTEN connection; reconnecting');
      this.scheduleListen();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === CHANNEL && RELOADS.has(msg.payload ?? '')) void this.reload();
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.attempt = 0;
  }

  private scheduleListen(): void {
    const delay = (this.opts.backoff ?? ((n) => backoff(n, { baseMs: 100, capMs: 5_000 })))(++this.attempt);
    this.retry = setTimeout(() => {
      this.listen().then(
        // Notifications sent while nobody listened are gone: read the catalog once more.
        () => this.reload(),
        (err: unknown) => {
          if (this.closed) return;
          this.opts.logger.warn({ err }, 'schema cache could not listen; retrying');
          this.scheduleListen();
        },
      );
    }, delay);
    this.retry.unref();
  }
}
