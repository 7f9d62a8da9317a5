-- Realtime: the supabase_realtime publication, whose tables the server reads from the write-ahead log
-- (docs/backend/REALTIME.md, "Change capture"), and realtime.messages with realtime.topic(), as hosted
-- Supabase lays them out (supabase/realtime's tenant migrations): the table whose Row Level Security policies
-- decide who may receive and send broadcast and presence messages on private channels, with this project's
-- policy for its own session:<id> channels. On hosted Supabase the publication, the table and the function
-- exist already and are left alone. Idempotent.

-- The original plan's publication: every change of these tables streams to Realtime. A table a later
-- migration adds to it streams too, without a code change.
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

-- Triggers and functions of the NOTIFY-based change feed (2026-11-27 to 2026-12-03), on a database that still
-- has them: every commit that notified took an instance-wide lock (PERFORMANCE.md).
drop trigger if exists realtime_inserted on public.session_events;
drop trigger if exists realtime_updated on public.session_events;
drop trigger if exists realtime_deleted on public.session_events;
drop trigger if exists realtime_inserted on public.sessions;
drop trigger if exists realtime_updated on public.sessions;
drop trigger if exists realtime_deleted on public.sessions;

drop function if exists mobvibe.realtime_session_events_inserted();
drop function if exists mobvibe.realtime_rows_inserted();
drop function if exists mobvibe.realtime_rows_updated();
drop function if exists mobvibe.realtime_rows_deleted();

-- realtime.messages is partitioned by day on inserted_at (UTC, as on Supabase). mobvibe.maintain_messages_partitions
-- keeps partitions from yesterday to three days ahead and drops those older than `keep_days` (72 h by default,
-- Supabase's retention); the server runs it at start and every hour. With no policy of its own, a private topic
-- may be used by service_role (BYPASSRLS) only.
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

do $$
begin
  if to_regclass('realtime.messages') is null then
    create table realtime.messages (
      topic text not null,
      extension text not null,
      payload jsonb,
      event text,
      private boolean default false,
      updated_at timestamp without time zone not null default now(),
      inserted_at timestamp without time zone not null default now(),
      id uuid not null default gen_random_uuid(),
      primary key (id, inserted_at)
    ) partition by range (inserted_at);
    create index messages_topic_idx on realtime.messages (topic);
    alter table realtime.messages enable row level security;
    grant select, insert, update on realtime.messages to anon, authenticated, service_role;
  end if;
end
$$;

do $$
begin
  if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'realtime' and p.proname = 'topic') then
    create function realtime.topic() returns text
    language sql stable
    as $f$ select nullif(current_setting('realtime.topic', true), '')::text $f$;
    grant execute on function realtime.topic() to anon, authenticated, service_role;
  end if;
end
$$;

-- Daily partitions realtime.messages_YYYY_MM_DD from yesterday to `days_ahead` days ahead (UTC); drops those that
-- ended more than `keep_days` days ago. Returns how many it created and dropped. Only for a database whose
-- realtime.messages this server created: on hosted Supabase, Realtime maintains its own partitions.
create or replace function mobvibe.maintain_messages_partitions(days_ahead int default 3, keep_days int default 3,
                                                               out created int, out dropped int)
language plpgsql
as $$
declare
  today date := (now() at time zone 'utc')::date;
  d date;
  part record;
begin
  created := 0;
  dropped := 0;
  -- Someone else's table (Supabase Realtime's, owned by supabase_realtime_admin) is left to its owner.
  if not exists (select 1 from pg_class where oid = 'realtime.messages'::regclass and relowner = (select oid from pg_roles where rolname = current_user)) then
    return;
  end if;
  for d in select generate_series(today - 1, today + days_ahead, interval '1 day')::date loop
    if to_regclass(format('realtime.messages_%s', to_char(d, 'YYYY_MM_DD'))) is null then
      execute format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
                     'messages_' || to_char(d, 'YYYY_MM_DD'), d, d + 1);
      created := created + 1;
    end if;
  end loop;
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'realtime.messages'::regclass and c.relname ~ '^messages_\d{4}_\d{2}_\d{2}$'
       and to_date(substr(c.relname, 10), 'YYYY_MM_DD') < today - keep_days
  loop
    execute format('drop table realtime.%I', part.relname);
    dropped := dropped + 1;
  end loop;
end
$$;
revoke all on function mobvibe.maintain_messages_partitions(int, int) from public, anon, authenticated, service_role;

select mobvibe.maintain_messages_partitions();

-- Who may use this project's private channel `session:<session id>` (the app's RealtimeService joins it with
-- private: true): the session's owner may receive on it (broadcast and presence, and so join it); nobody but
-- service_role (which bypasses Row Level Security) may send on it. Other topics are untouched. The same policy
-- works on hosted Supabase, which decides private channels by these policies too.
--
-- The topic is matched strictly before it is cast, inside CASE, because SQL does not promise to evaluate the
-- parts of an AND in order. (select ...) around realtime.topic() and auth.uid() lets PostgreSQL compute them once
-- per check, as Supabase's docs advise.
drop policy if exists session_channel_owner_receives on realtime.messages;
create policy session_channel_owner_receives on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension in ('broadcast', 'presence')
    and case
      when (select realtime.topic()) ~* '^session:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        exists (select 1 from public.sessions s
                 where s.id = substr((select realtime.topic()), 9)::uuid and s.user_id = (select auth.uid()))
      else false
    end
  );
