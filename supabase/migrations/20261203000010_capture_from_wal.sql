-- Changes are read from the write-ahead log (logical replication, pgoutput, the supabase_realtime publication),
-- as Supabase Realtime does: the triggers that made every writing statement call pg_notify are dropped. A
-- notifying commit takes one instance-wide lock, so those commits ran one at a time (see PERFORMANCE.md).
--
-- public.sessions gets REPLICA IDENTITY FULL, as public.session_events has since the first migration: an UPDATE
-- or DELETE then carries the whole old row (Supabase's old_record), and unchanged TOASTed columns of an update
-- can be filled in from it. Idempotent.

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

alter table public.sessions replica identity full;
