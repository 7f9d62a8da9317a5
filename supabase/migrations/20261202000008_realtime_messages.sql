-- realtime.messages and realtime.topic(), as hosted Supabase lays them out (supabase/realtime's tenant
-- migrations): the table whose Row Level Security policies decide who may receive and send broadcast and
-- presence messages on private channels. On hosted Supabase both exist already and are left alone; here they are
-- created when absent.
--
-- realtime.messages is partitioned by day on inserted_at (UTC, as on Supabase). mobvibe.maintain_messages_partitions
-- keeps partitions from yesterday to three days ahead and drops those older than `keep_days` (72 h by default,
-- Supabase's retention); the server runs it at start and every hour.
--
-- No policy is created here: with none, only service_role (BYPASSRLS) may use private channels. Policies for this
-- project's own channels are in 20261202000009_session_channel_policy.sql. Idempotent.

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
