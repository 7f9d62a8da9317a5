-- INSERT notifications of session_events carry the inserted rows themselves, so the server no longer reads
-- them back. Under scenario (b) of the benchmark that read cost PostgreSQL 11 µs per event (pg_stat_statements);
-- building the rows here costs ~4 µs more per inserted row (bench/insert-cost.ts). The server still asks once per
-- batch of notifications for the commit timestamps.
--
-- Payload (version 1, "JSON lines"): a header line, then one row per line, in (session_id, seq) order:
--   {"v":1,"t":"session_events","o":"I","x":"<xid8>","n":<rows>}\n<row_to_json>\n<row_to_json>...
-- A row's JSON never holds a raw newline (JSON escapes them), so the server splits on "\n" and forwards each
-- row's text as it is. Each notification stays under 7,500 bytes (NOTIFY's limit is 8,000). A row whose JSON
-- is bigger than that is announced as before, as a seq range the server reads back:
--   {"v":1,"t":"session_events","o":"I","x":"<xid8>","r":[["<session_id>",<seq>,<seq>]]}
-- Notifications go out in the rows' order, so each session's rows reach the server in seq order.
--
-- Like the other trigger functions (20261127000002_realtime.sql): built-ins only, static SQL. Idempotent.
create or replace function mobvibe.realtime_session_events_inserted() returns trigger
language plpgsql
as $$
declare
  limit_bytes constant int := 7500;
  xid constant text := pg_current_xact_id()::text;
  head constant text := '{"v":1,"t":"session_events","o":"I","x":"' || xid || '","n":';
  r record;
  big boolean;
  buf text := '';
  rows int := 0;
begin
  for r in select n.session_id, n.seq, row_to_json(n)::text as j from new_rows n order by n.session_id, n.seq loop
    big := octet_length(r.j) + 100 > limit_bytes;
    -- Send what is gathered before a big row (keeping seq order) or before it would overflow.
    if rows > 0 and (big or octet_length(buf) + octet_length(r.j) + 100 > limit_bytes) then
      perform pg_notify('mobvibe_realtime', head || rows || '}' || buf);
      buf := '';
      rows := 0;
    end if;
    if big then
      perform pg_notify('mobvibe_realtime', json_build_object('v', 1, 't', 'session_events', 'o', 'I', 'x', xid,
        'r', json_build_array(json_build_array(r.session_id, r.seq, r.seq)))::text);
    else
      buf := buf || E'\n' || r.j;
      rows := rows + 1;
    end if;
  end loop;
  if rows > 0 then
    perform pg_notify('mobvibe_realtime', head || rows || '}' || buf);
  end if;
  return null;
end
$$;
