-- The access check of a realtime join, as one function the server calls (backend/realtime/src/realtime/authorize.ts):
-- for a private topic, what the caller may receive by the realtime.messages policies (probe rows inserted as the
-- server, then read as the caller, as hosted Supabase Realtime checks them), and which of the sessions its
-- postgres_changes bindings name the caller can read. The caller's role and claims are set inside, as PostgREST
-- sets them, and stay set until the server's transaction rolls back (it always does: the probe rows are never
-- kept). Being PL/pgSQL, its statements keep their plans per connection: a reconnect storm is thousands of these
-- checks at once, and planning the policy query over every daily partition of realtime.messages was most of each
-- check's cost (measured 2026-12-04: 560-700 µs of PostgreSQL CPU as plain SQL, 270 µs here).
--
-- Only the server runs it: no API role may execute it (it inserts into realtime.messages as its owner's caller).
-- Idempotent.
create or replace function mobvibe.realtime_join_check(
  p_role text, p_claims text, p_sub text, p_topic text, p_session_ids uuid[],
  out receivable text[], out readable uuid[])
language plpgsql
set search_path = ''
as $f$
declare
  probe_broadcast uuid := pg_catalog.gen_random_uuid();
  probe_presence uuid := pg_catalog.gen_random_uuid();
begin
  if p_topic is not null then
    insert into realtime.messages (id, topic, extension)
    values (probe_broadcast, p_topic, 'broadcast'), (probe_presence, p_topic, 'presence');
  end if;
  perform pg_catalog.set_config('role', p_role, true),
          pg_catalog.set_config('request.jwt.claims', p_claims, true),
          pg_catalog.set_config('request.jwt.claim.sub', p_sub, true),
          pg_catalog.set_config('request.jwt.claim.role', p_role, true),
          pg_catalog.set_config('realtime.topic', coalesce(p_topic, ''), true);
  -- A role that may not read a table at all (anon may not read sessions) can read none of its rows.
  if p_topic is not null then
    begin
      select coalesce(pg_catalog.array_agg(m.extension), '{}') into receivable
      from realtime.messages m where m.id in (probe_broadcast, probe_presence);
    exception when insufficient_privilege then
      receivable := '{}';
    end;
  end if;
  if pg_catalog.cardinality(p_session_ids) > 0 then
    begin
      select coalesce(pg_catalog.array_agg(s.id), '{}') into readable
      from public.sessions s where s.id = any (p_session_ids);
    exception when insufficient_privilege then
      readable := '{}';
    end;
  end if;
end
$f$;

revoke all on function mobvibe.realtime_join_check(text, text, text, text, uuid[]) from public, anon, authenticated, service_role;
