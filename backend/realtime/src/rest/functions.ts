import type pg from 'pg';

export interface FunctionArg {
  name: string;
  /** SQL type as format_type() prints it, used to cast the argument (`jsonb`, `uuid`, `integer`). */
  type: string;
  isJson: boolean;
  /** Whether the argument may be left out (it has a default). */
  optional: boolean;
}

export interface RpcFunction {
  schema: 'public';
  name: string;
  args: FunctionArg[];
  /** Returns a set (`setof`, `returns table`): answered as a JSON array of rows; otherwise as one JSON value. */
  returnsSet: boolean;
}

/** Functions `/rest/v1/rpc/<name>` may call. Anything else is a 404, like a function absent from PostgREST's schema cache. */
export const EXPOSED_FUNCTIONS = ['append_session_events'] as const;

/** Reads the signatures of the exposed functions from the catalog (after migrations have run). */
export async function loadFunctions(pool: pg.Pool, names: readonly string[] = EXPOSED_FUNCTIONS): Promise<Map<string, RpcFunction>> {
  const { rows } = await pool.query<{ name: string; arg_names: string[] | null; arg_types: string[]; defaults: number; returns_set: boolean }>(
    // proargnames also names OUT arguments (those of `returns table`), in declaration order; proargmodes says which
    // are inputs, and is null when all are.
    `select p.proname as name, p.pronargdefaults as defaults, p.proretset as returns_set,
            case when p.proargmodes is null then p.proargnames
                 else array(select u.name from unnest(p.proargnames, p.proargmodes) with ordinality as u(name, mode, i)
                             where u.mode in ('i', 'b', 'v') order by u.i) end as arg_names,
            array(select format_type(t, null) from unnest(p.proargtypes) with ordinality as a(t, i) order by i) as arg_types
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.proname = any($1) and p.prokind = 'f'`,
    [names],
  );
  const functions = new Map<string, RpcFunction>();
  for (const row of rows) {
    if (functions.has(row.name)) throw new Error(`public.${row.name} is overloaded; /rest/v1/rpc serves one signature per name`);
    const args = row.arg_types.map((type, i) => ({
      name: row.arg_names?.[i] ?? '',
      type,
      isJson: type === 'json' || type === 'jsonb',
      optional: i >= row.arg_types.length - row.defaults,
    }));
    if (args.some((a) => a.name === '')) throw new Error(`public.${row.name} has unnamed arguments; /rest/v1/rpc passes arguments by name`);
    functions.set(row.name, { schema: 'public', name: row.name, args, returnsSet: row.returns_set });
  }
  return functions;
}
