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
-- The trigger functions are SECURITY DEFINER (with a fixed search_path) so that writers need no privileges on
-- schema "mobvibe"; they only read the statement's transition tables and call pg_notify.
--
-- Idempotent, and runs unchanged on hosted Supabase: it only adds the schema "mobvibe", functions in it, and
-- triggers named realtime_* on the two tables.

create schema if not exists mobvibe;

-- Sends one notification; the single place that knows the channel name.
create or replace function mobvibe.realtime_send(payload text) returns void
language sql
as $$ select pg_notify('mobvibe_realtime', payload) $$;

-- The old row as JSON for a notification: whole when small, else only its small fields (and trimmed = true).
create or replace function mobvibe.realtime_old_row(old_row json, out doc json, out trimmed boolean)
language plpgsql
immutable
as $$
begin
  if octet_length(old_row::text) <= 7000 then
    doc := old_row;
    trimmed := false;
    return;
  end if;
  select coalesce(json_object_agg(key, value) filter (where octet_length(value::text) <= 64), '{}'::json)
    into doc
    from json_each(old_row);
  trimmed := true;
end
$$;

-- INSERT into session_events: per session touched, the range of seqs this statement wrote. The seq trigger
-- hands out consecutive numbers per session under a row lock, so [min, max] is exactly this statement's rows.
create or replace function mobvibe.realtime_session_events_inserted() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  chunk text;
begin
  for chunk in
    select json_build_object('v', 1, 't', 'session_events', 'o', 'I', 'x', pg_current_xact_id()::text,
                             'r', json_agg(json_build_array(g.session_id, g.lo, g.hi)))::text
      from (select session_id, min(seq) as lo, max(seq) as hi,
                   (row_number() over (order by session_id) - 1) / 80 as part
              from new_rows
             group by session_id) g
     group by g.part
     order by g.part
  loop
    perform mobvibe.realtime_send(chunk);
  end loop;
  return null;
end
$$;

-- INSERT into any other realtime table: the ids written, 150 per notification.
create or replace function mobvibe.realtime_rows_inserted() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  chunk text;
begin
  for chunk in
    execute format(
      $q$select json_build_object('v', 1, 't', %L, 'o', 'I', 'x', pg_current_xact_id()::text, 'k', json_agg(g.id))::text
           from (select id, (row_number() over () - 1) / 150 as part from new_rows) g
          group by g.part
          order by g.part$q$, tg_table_name)
  loop
    perform mobvibe.realtime_send(chunk);
  end loop;
  return null;
end
$$;

-- UPDATE or DELETE: [id, old row, trimmed, new row] per row, packed into notifications of at most ~7600 bytes.
-- Trigger arguments name columns whose changes alone are not worth an UPDATE event (sessions.last_seq moves
-- with every event insert; the events themselves are delivered).
create or replace function mobvibe.realtime_rows_changed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
  op text := case tg_op when 'UPDATE' then 'U' else 'D' end;
  head text := json_build_object('v', 1, 't', tg_table_name, 'o', op, 'x', pg_current_xact_id()::text)::text;
  buf text := '';
  elem text;
  source text;
begin
  head := left(head, length(head) - 1) || ',"r":[';
  if tg_op = 'UPDATE' then
    source := format(
      $q$select o.id, row_to_json(o) as old_row, row_to_json(n) as new_row
           from old_rows o join new_rows n on n.id = o.id
          where (to_jsonb(n) - %L::text[]) is distinct from (to_jsonb(o) - %L::text[])$q$,
      coalesce(tg_argv, '{}'::text[]), coalesce(tg_argv, '{}'::text[]));
  else
    source := 'select o.id, row_to_json(o) as old_row, null::json as new_row from old_rows o';
  end if;
  for elem in
    execute format('select json_build_array(s.id, d.doc, d.trimmed,
                             case when octet_length(d.doc::text) + octet_length(s.new_row::text) <= 7000 then s.new_row end)::text
                      from (%s) s cross join lateral mobvibe.realtime_old_row(s.old_row) d', source)
  loop
    if buf <> '' and octet_length(head) + octet_length(buf) + octet_length(elem) > 7600 then
      perform mobvibe.realtime_send(head || buf || ']}');
      buf := '';
    end if;
    buf := case when buf = '' then elem else buf || ',' || elem end;
  end loop;
  if buf <> '' then
    perform mobvibe.realtime_send(head || buf || ']}');
  end if;
  return null;
end
$$;

drop trigger if exists realtime_inserted on public.session_events;
create trigger realtime_inserted after insert on public.session_events
  referencing new table as new_rows
  for each statement execute function mobvibe.realtime_session_events_inserted();

drop trigger if exists realtime_updated on public.session_events;
create trigger realtime_updated after update on public.session_events
  referencing old table as old_rows new table as new_rows
  for each statement execute function mobvibe.realtime_rows_changed();

drop trigger if exists realtime_deleted on public.session_events;
create trigger realtime_deleted after delete on public.session_events
  referencing old table as old_rows
  for each statement execute function mobvibe.realtime_rows_changed();

drop trigger if exists realtime_inserted on public.sessions;
create trigger realtime_inserted after insert on public.sessions
  referencing new table as new_rows
  for each statement execute function mobvibe.realtime_rows_inserted();

drop trigger if exists realtime_updated on public.sessions;
create trigger realtime_updated after update on public.sessions
  referencing old table as old_rows new table as new_rows
  for each statement execute function mobvibe.realtime_rows_changed('last_seq');

drop trigger if exists realtime_deleted on public.sessions;
create trigger realtime_deleted after delete on public.sessions
  referencing old table as old_rows
  for each statement execute function mobvibe.realtime_rows_changed();
