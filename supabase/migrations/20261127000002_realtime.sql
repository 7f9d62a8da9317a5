-- Realtime change feed: after each statement that writes a realtime table, one compact NOTIFY on channel
-- "mobvibe_realtime" carries the keys of the rows it wrote (never whole new rows: NOTIFY payloads must stay
-- under 8000 bytes). Every server process LISTENs, fetches the rows by key and delivers them in commit order.
--
-- Why statement-level triggers with transition tables: every transaction that NOTIFYs takes one instance-wide
-- lock at commit, so a per-row NOTIFY would make a 1,000-row insert pay 1,000 times. Here one statement sends
-- one notification per ~80 sessions it touched (a range of seqs per session), so its cost does not grow with rows.
--
-- Payload (JSON, version 1):
--   {"v":1,"t":"session_events","o":"I","x":"<xid8>","r":[["<session_id>",<min seq>,<max seq>],...]}
--   {"v":1,"t":"<table>","o":"I","x":"<xid8>","k":["<id>",...]}
--   {"v":1,"t":"<table>","o":"U"|"D","x":"<xid8>","r":[["<id>",<old row>,<trimmed>,<new row or null>],...]}
-- "x" is the writing transaction, so the reader can ask for its commit timestamp. UPDATE and DELETE carry the
-- old row: whole when its JSON fits in 7000 bytes, else only the fields of at most 64 bytes, with trimmed=true
-- (reported to clients as "Error 413: Payload Too Large", as Supabase's own server does). An UPDATE also
-- carries its new row when both fit (else null, and the reader fetches the row by id), so an update followed at
-- once by another update or a delete is still delivered with the values it wrote.
--
-- The trigger functions call nothing but built-ins (no privileges needed on schema "mobvibe"), use only static
-- SQL (plans cached per connection), and return early when there is nothing to say: they run inside every
-- writing statement.
--
-- Idempotent, and runs unchanged on hosted Supabase: it only adds the schema "mobvibe", functions in it, and
-- triggers named realtime_* on the two tables.

create schema if not exists mobvibe;

-- Helpers of an earlier draft of this migration.
drop function if exists mobvibe.realtime_send(text);
drop function if exists mobvibe.realtime_old_row(json);

-- INSERT into session_events: per session touched, the range of seqs this statement wrote. The seq trigger
-- hands out consecutive numbers per session under a row lock, so [min, max] is exactly this statement's rows.
-- One notification for up to 80 sessions (~80 bytes each), more in chunks of 80.
create or replace function mobvibe.realtime_session_events_inserted() returns trigger
language plpgsql
as $$
declare
  sessions int;
  ranges json;
  chunk json;
begin
  select count(*), json_agg(json_build_array(g.session_id, g.lo, g.hi))
    into sessions, ranges
    from (select session_id, min(seq) as lo, max(seq) as hi from new_rows group by session_id) g;
  if sessions = 0 then
    return null;
  end if;
  if sessions <= 80 then
    perform pg_notify('mobvibe_realtime', json_build_object('v', 1, 't', 'session_events', 'o', 'I',
                                                            'x', pg_current_xact_id()::text, 'r', ranges)::text);
    return null;
  end if;
  for chunk in
    select json_agg(r.value order by r.ordinality)
      from json_array_elements(ranges) with ordinality r
     group by (r.ordinality - 1) / 80
     order by (r.ordinality - 1) / 80
  loop
    perform pg_notify('mobvibe_realtime', json_build_object('v', 1, 't', 'session_events', 'o', 'I',
                                                            'x', pg_current_xact_id()::text, 'r', chunk)::text);
  end loop;
  return null;
end
$$;

-- INSERT into any other realtime table: the ids written, 150 per notification.
create or replace function mobvibe.realtime_rows_inserted() returns trigger
language plpgsql
as $$
declare
  chunk json;
begin
  for chunk in
    select json_agg(g.id) from (select id, (row_number() over () - 1) / 150 as part from new_rows) g
     group by g.part
     order by g.part
  loop
    perform pg_notify('mobvibe_realtime', json_build_object('v', 1, 't', tg_table_name, 'o', 'I',
                                                            'x', pg_current_xact_id()::text, 'k', chunk)::text);
  end loop;
  return null;
end
$$;

-- UPDATE: [id, old row, trimmed, new row] per row whose columns changed (beyond those named as trigger
-- arguments), packed into notifications of at most ~7600 bytes. The old row is whole when its JSON fits in 7000
-- bytes, else only its fields of at most 64 bytes (trimmed = true); the new row rides along when both fit.
create or replace function mobvibe.realtime_rows_updated() returns trigger
language plpgsql
as $$
declare
  ignored text[] := coalesce(tg_argv, '{}');
  head text := '{"v":1,"t":' || to_json(tg_table_name)::text || ',"o":"U","x":"' || pg_current_xact_id()::text || '","r":[';
  buf text := '';
  elem text;
begin
  for elem in
    select json_build_array(s.id, d.doc, d.trimmed,
                            case when octet_length(d.doc::text) + octet_length(s.new_row::text) <= 7000 then s.new_row end)::text
      from (select o.id, row_to_json(o) as old_row, row_to_json(n) as new_row
              from old_rows o join new_rows n on n.id = o.id
             where (to_jsonb(n) - ignored) is distinct from (to_jsonb(o) - ignored)) s
      cross join lateral (
        select case when octet_length(s.old_row::text) <= 7000 then s.old_row
                    else (select coalesce(json_object_agg(e.key, e.value) filter (where octet_length(e.value::text) <= 64), '{}')
                            from json_each(s.old_row) e) end as doc,
               octet_length(s.old_row::text) > 7000 as trimmed) d
  loop
    if buf <> '' and octet_length(head) + octet_length(buf) + octet_length(elem) > 7600 then
      perform pg_notify('mobvibe_realtime', head || buf || ']}');
      buf := '';
    end if;
    buf := case when buf = '' then elem else buf || ',' || elem end;
  end loop;
  if buf <> '' then
    perform pg_notify('mobvibe_realtime', head || buf || ']}');
  end if;
  return null;
end
$$;

-- DELETE: [id, old row, trimmed, null] per row, packed and trimmed as for UPDATE.
create or replace function mobvibe.realtime_rows_deleted() returns trigger
language plpgsql
as $$
declare
  head text := '{"v":1,"t":' || to_json(tg_table_name)::text || ',"o":"D","x":"' || pg_current_xact_id()::text || '","r":[';
  buf text := '';
  elem text;
begin
  for elem in
    select json_build_array(s.id, d.doc, d.trimmed, null)::text
      from (select o.id, row_to_json(o) as old_row from old_rows o) s
      cross join lateral (
        select case when octet_length(s.old_row::text) <= 7000 then s.old_row
                    else (select coalesce(json_object_agg(e.key, e.value) filter (where octet_length(e.value::text) <= 64), '{}')
                            from json_each(s.old_row) e) end as doc,
               octet_length(s.old_row::text) > 7000 as trimmed) d
  loop
    if buf <> '' and octet_length(head) + octet_length(buf) + octet_length(elem) > 7600 then
      perform pg_notify('mobvibe_realtime', head || buf || ']}');
      buf := '';
    end if;
    buf := case when buf = '' then elem else buf || ',' || elem end;
  end loop;
  if buf <> '' then
    perform pg_notify('mobvibe_realtime', head || buf || ']}');
  end if;
  return null;
end
$$;

drop function if exists mobvibe.realtime_rows_changed() cascade;

drop trigger if exists realtime_inserted on public.session_events;
create trigger realtime_inserted after insert on public.session_events
  referencing new table as new_rows
  for each statement execute function mobvibe.realtime_session_events_inserted();

drop trigger if exists realtime_updated on public.session_events;
create trigger realtime_updated after update on public.session_events
  referencing old table as old_rows new table as new_rows
  for each statement execute function mobvibe.realtime_rows_updated();

drop trigger if exists realtime_deleted on public.session_events;
create trigger realtime_deleted after delete on public.session_events
  referencing old table as old_rows
  for each statement execute function mobvibe.realtime_rows_deleted();

drop trigger if exists realtime_inserted on public.sessions;
create trigger realtime_inserted after insert on public.sessions
  referencing new table as new_rows
  for each statement execute function mobvibe.realtime_rows_inserted();

drop trigger if exists realtime_updated on public.sessions;
create trigger realtime_updated after update on public.sessions
  referencing old table as old_rows new table as new_rows
  for each statement execute function mobvibe.realtime_rows_updated();

drop trigger if exists realtime_deleted on public.sessions;
create trigger realtime_deleted after delete on public.sessions
  referencing old table as old_rows
  for each statement execute function mobvibe.realtime_rows_deleted();
