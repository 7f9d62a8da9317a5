-- The event store's schema, its roles and Row Level Security: public.sessions and public.session_events, who may
-- read and write which rows, and the bounds on what one request may store or return (docs/SECURITY.md).
-- Idempotent: running it twice changes nothing. Runs unchanged on hosted Supabase, where the roles, auth.uid()
-- and the supabase_realtime publication already exist and are left alone.
--
-- This file, 20261203100002_seq_numbering.sql and 20261203100003_realtime.sql replace the series of ten
-- migrations of 2026-11-27 to 2026-12-03 (squashed on 2026-12-03; the old files are in git history and in
-- backend/realtime/test/fixtures/migrations-2026-12-03, where a test checks that both give the same schema).
-- A database that applied that series gets these three applied over it, which changes nothing.

-- Roles (Supabase has them; a plain PostgreSQL does not). Roles are cluster-wide, so two databases being
-- migrated at once may race to create them: losing that race is fine.
do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin noinherit%s', r, case when r = 'service_role' then ' bypassrls' else '' end);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
  end loop;
end
$$;

-- auth.uid(), as Supabase defines it: the "sub" claim of the request's JWT.
do $$
begin
  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
  if not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'uid'
  ) then
    create function auth.uid() returns uuid
    language sql stable
    as $f$
      select nullif(
        coalesce(current_setting('request.jwt.claim.sub', true),
                 current_setting('request.jwt.claims', true)::jsonb ->> 'sub'),
        '')::uuid
    $f$;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
end
$$;

grant usage on schema public to anon, authenticated, service_role;

-- Internal tables and functions of this project (not exposed through REST).
create schema if not exists mobvibe;
grant usage on schema mobvibe to anon, authenticated, service_role;

create table if not exists public.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  title text,
  status text,
  created_at timestamptz not null default now()
);
create index if not exists sessions_user_id_created_at_idx on public.sessions (user_id, created_at desc);

-- No foreign key to sessions: its per-row check took a FOR KEY SHARE lock on the session's row, which writes and
-- logs that row for every event (PERFORMANCE.md, "No foreign-key check per event"). What it guaranteed is kept by
-- 20261203100002_seq_numbering.sql: an event needs an existing session (23503 otherwise), and deleting a session
-- deletes its events.
create table if not exists public.session_events (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null,
  seq bigint not null,
  event_type text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  unique (session_id, seq)
);
create index if not exists session_events_session_id_created_at_idx on public.session_events (session_id, created_at);

-- Backstops for rows written by plain SQL. The API validates each event's shape (@mobvibe/events) and its
-- size (256 KiB of compact JSON) first; the database refuses unknown types, non-objects and anything
-- past 512 KiB of jsonb text, so no path can store a malformed event.
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'session_events_event_type_check') then
    alter table public.session_events add constraint session_events_event_type_check
      check (event_type in ('thinking', 'file_change', 'terminal', 'preview_ready', 'error', 'completion'));
  end if;
  if not exists (select 1 from pg_constraint where conname = 'session_events_payload_check') then
    alter table public.session_events add constraint session_events_payload_check
      check (jsonb_typeof(payload) = 'object' and octet_length(payload::text) <= 524288);
  end if;
end
$$;

-- A user cannot store (and make every reader carry) a multi-megabyte title: at most 1,000 characters of title
-- and 64 of status. NOT VALID: rows stored before these checks existed (2026-12-02) are not checked; every
-- insert and update is.
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'sessions_title_length' and conrelid = 'public.sessions'::regclass) then
    alter table public.sessions add constraint sessions_title_length check (char_length(title) <= 1000) not valid;
  end if;
  if not exists (select 1 from pg_constraint where conname = 'sessions_status_length' and conrelid = 'public.sessions'::regclass) then
    alter table public.sessions add constraint sessions_status_length check (char_length(status) <= 64) not valid;
  end if;
end
$$;

-- What the REST layer calls when a result would exceed its byte bound (MOBVIBE_MAX_RESPONSE_BYTES). It raises
-- SQLSTATE PT413, which the server (like PostgREST, which maps PTnnn to HTTP status nnn) answers with 413;
-- raising, rather than returning nothing, rolls back a write whose representation was too big, so nothing is
-- stored that the client was told failed. Hosted Supabase never calls it.
create or replace function mobvibe.refuse_large_response(bytes bigint, max_bytes bigint) returns text
language plpgsql
as $$
begin
  raise exception 'the response would be % bytes; the limit is % bytes', bytes, max_bytes
    using errcode = 'PT413', hint = 'ask for fewer rows (limit) or fewer columns (select)';
end
$$;

revoke all on function mobvibe.refuse_large_response(bigint, bigint) from public;
grant execute on function mobvibe.refuse_large_response(bigint, bigint) to anon, authenticated, service_role;

-- Events are an append-only log: session_id and seq never change once stored.
create or replace function public.session_events_immutable_keys() returns trigger
language plpgsql
as $$
begin
  if new.session_id is distinct from old.session_id or new.seq is distinct from old.seq then
    raise exception 'session_events.session_id and seq cannot change' using errcode = '23514';
  end if;
  return new;
end
$$;

drop trigger if exists session_events_immutable_keys on public.session_events;
create trigger session_events_immutable_keys
  before update on public.session_events
  for each row execute function public.session_events_immutable_keys();

-- Privileges. Hosted Supabase grants everything on public tables to anon and authenticated by default;
-- we narrow that, and Row Level Security below decides which rows.
revoke all on public.sessions, public.session_events from anon, authenticated;
grant select, delete on public.sessions to authenticated;
grant insert (id, user_id, title, status), update (title, status) on public.sessions to authenticated;
grant select on public.session_events to authenticated;
grant select, insert, update, delete on public.sessions to service_role;
grant select, update, delete on public.session_events to service_role;
-- Events are inserted with seq taken by the database (20261203100002_seq_numbering.sql): no API role may
-- name the column. (Revoking table-level INSERT also revokes the column grants; they are given again.)
revoke insert on public.session_events from service_role;
grant insert (id, session_id, event_type, payload, created_at) on public.session_events to service_role;

alter table public.sessions enable row level security;
alter table public.session_events enable row level security;

drop policy if exists sessions_select_own on public.sessions;
create policy sessions_select_own on public.sessions
  for select to authenticated using (user_id = auth.uid());

drop policy if exists sessions_insert_own on public.sessions;
create policy sessions_insert_own on public.sessions
  for insert to authenticated with check (user_id = auth.uid());

drop policy if exists sessions_update_own on public.sessions;
create policy sessions_update_own on public.sessions
  for update to authenticated using (user_id = auth.uid()) with check (user_id = auth.uid());

drop policy if exists sessions_delete_own on public.sessions;
create policy sessions_delete_own on public.sessions
  for delete to authenticated using (user_id = auth.uid());

drop policy if exists session_events_select_own on public.session_events;
create policy session_events_select_own on public.session_events
  for select to authenticated using (
    exists (select 1 from public.sessions s where s.id = session_events.session_id and s.user_id = auth.uid())
  );

-- service_role bypasses RLS on Supabase and here; these make that explicit should BYPASSRLS be missing.
drop policy if exists sessions_service_role on public.sessions;
create policy sessions_service_role on public.sessions for all to service_role using (true) with check (true);
drop policy if exists session_events_service_role on public.session_events;
create policy session_events_service_role on public.session_events for all to service_role using (true) with check (true);

-- The whole old row rides with every UPDATE and DELETE in the WAL (Supabase's old_record; unchanged TOASTed
-- values of an update are filled in from it).
alter table public.sessions replica identity full;
alter table public.session_events replica identity full;
