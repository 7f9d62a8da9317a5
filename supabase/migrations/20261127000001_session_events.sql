-- MobVibe event store: sessions, session_events, seq assignment and Row Level Security.
-- Idempotent: running it twice changes nothing. Runs unchanged on hosted Supabase, where the roles,
-- auth.uid() and the supabase_realtime publication already exist and are left alone.

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

-- Internal tables of this project (not exposed through REST).
create schema if not exists mobvibe;

create table if not exists public.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  title text,
  status text,
  created_at timestamptz not null default now()
);
create index if not exists sessions_user_id_created_at_idx on public.sessions (user_id, created_at desc);

create table if not exists public.session_events (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.sessions(id) on delete cascade,
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

-- seq: 1, 2, 3, ... per session, gap-free, in commit order.
-- Each session's counter is one row of mobvibe.session_seq. An insert takes the next number with an upsert,
-- which locks that row until the inserting transaction ends. A second writer to the same session waits for
-- the lock, so it can only take N+1 after N has committed (or rolled back, which also rolls back the counter:
-- no gaps). Readers therefore never see N+1 before N. The counter lives in its own small table, not in
-- sessions, so taking a number fires no trigger of sessions and costs one index upsert per event.
create table if not exists mobvibe.session_seq (
  session_id uuid primary key references public.sessions(id) on delete cascade,
  last_seq bigint not null
);
revoke all on mobvibe.session_seq from public, anon, authenticated, service_role;
-- Counters of databases that kept them in sessions.last_seq (an earlier version of this file).
insert into mobvibe.session_seq (session_id, last_seq)
  select session_id, max(seq) from public.session_events group by session_id
  on conflict (session_id) do update set last_seq = greatest(mobvibe.session_seq.last_seq, excluded.last_seq);
drop trigger if exists sessions_protect_last_seq on public.sessions;
drop function if exists public.sessions_protect_last_seq();
alter table public.sessions drop column if exists last_seq;

create or replace function public.session_events_assign_seq() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  existing_seq bigint;
begin
  perform 1 from public.sessions where id = new.session_id;
  if not found then
    raise foreign_key_violation
      using message = format('session %s does not exist', new.session_id),
            detail = format('Key (session_id)=(%s) is not present in table "sessions".', new.session_id);
  end if;
  insert into mobvibe.session_seq as c (session_id, last_seq) values (new.session_id, 1)
    on conflict (session_id) do update set last_seq = c.last_seq + 1
    returning c.last_seq into new.seq;
  -- A retried insert of an id that is already stored must not consume a number: give it back and keep the
  -- stored seq, so ON CONFLICT (id) DO NOTHING skips the row and a plain insert fails on the primary key.
  -- (Checked after taking the lock, so a concurrent first attempt has committed by now.)
  select e.seq into existing_seq from public.session_events e where e.id = new.id;
  if found then
    update mobvibe.session_seq set last_seq = last_seq - 1 where session_id = new.session_id;
    new.seq := existing_seq;
  end if;
  return new;
end
$$;

drop trigger if exists session_events_assign_seq on public.session_events;
create trigger session_events_assign_seq
  before insert on public.session_events
  for each row execute function public.session_events_assign_seq();

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
grant select, insert, update, delete on public.sessions, public.session_events to service_role;

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

-- Realtime, as in the original plan.
alter table public.session_events replica identity full;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
  if not exists (select 1 from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'session_events') then
    alter publication supabase_realtime add table public.session_events;
  end if;
  if not exists (select 1 from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'sessions') then
    alter publication supabase_realtime add table public.sessions;
  end if;
end
$$;
