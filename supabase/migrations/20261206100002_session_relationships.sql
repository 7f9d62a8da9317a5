-- Embedding between public.sessions and public.session_events, the PostgREST way without a foreign key:
-- session_events.session_id has none (its per-row check costs 20-28 % more PostgreSQL CPU per stored event;
-- docs/backend/REALTIME.md, "Schema"), so these computed relationships declare it instead. PostgREST (hosted
-- Supabase included) and this server both follow them: select=*,session_events(*) on sessions, and
-- select=*,sessions(*) on session_events (one row: rows 1). Stable and security invoker, so the caller's
-- Row Level Security decides what each embedding shows.

create or replace function public.session_events(public.sessions) returns setof public.session_events
language sql stable
as $$ select * from public.session_events e where e.session_id = $1.id $$;

create or replace function public.sessions(public.session_events) returns setof public.sessions rows 1
language sql stable
as $$ select * from public.sessions s where s.id = $1.session_id $$;
