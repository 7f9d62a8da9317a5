-- REST's schema cache follows DDL, as on hosted Supabase, whose event triggers pgrst_ddl_watch and
-- pgrst_drop_watch send `NOTIFY pgrst, 'reload schema'` after every DDL command: a table, view or function that
-- a migration creates (with its grants and policies) is served without a restart (backend/realtime/src/rest/
-- schemaCache.ts listens on pgrst). Only DDL transactions notify; writes of rows never do.
--
-- Event triggers need a superuser. On a database where this migration runs without one, it creates nothing and
-- says so; `NOTIFY pgrst, 'reload schema'` then reloads the cache by hand. Where triggers of those names exist
-- already (hosted Supabase has them), they are kept.

create or replace function mobvibe.pgrst_reload_schema() returns event_trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('pgrst', 'reload schema');
end
$$;
revoke all on function mobvibe.pgrst_reload_schema() from public;

do $$
begin
  if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    raise notice 'not a superuser: no event trigger reloads the REST schema cache after DDL; send NOTIFY pgrst, ''reload schema'' after migrations';
    return;
  end if;
  if not exists (select 1 from pg_catalog.pg_event_trigger where evtname = 'pgrst_ddl_watch') then
    create event trigger pgrst_ddl_watch on ddl_command_end execute function mobvibe.pgrst_reload_schema();
  end if;
  if not exists (select 1 from pg_catalog.pg_event_trigger where evtname = 'pgrst_drop_watch') then
    create event trigger pgrst_drop_watch on sql_drop execute function mobvibe.pgrst_reload_schema();
  end if;
end
$$;
