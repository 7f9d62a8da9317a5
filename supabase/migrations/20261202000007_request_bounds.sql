-- Bounds on what one request may store or return (docs/SECURITY.md).
--
-- * sessions.title and sessions.status have a length limit, so a user cannot store (and make the change feed
--   and every reader carry) a multi-megabyte title: at most 1,000 characters of title and 64 of status. Rows
--   stored before this migration are not checked (NOT VALID); every insert and update is.
-- * mobvibe.refuse_large_response(bytes, max_bytes): what the REST layer calls when a result would exceed its
--   byte bound (MOBVIBE_MAX_RESPONSE_BYTES). It raises SQLSTATE PT413, which the server (like PostgREST, which
--   maps PTnnn to HTTP status nnn) answers with 413; raising, rather than returning nothing, rolls back a write
--   whose representation was too big, so nothing is stored that the client was told failed.
-- Idempotent; runs unchanged on hosted Supabase (which never calls the function).

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

create or replace function mobvibe.refuse_large_response(bytes bigint, max_bytes bigint) returns text
language plpgsql
as $$
begin
  raise exception 'the response would be % bytes; the limit is % bytes', bytes, max_bytes
    using errcode = 'PT413', hint = 'ask for fewer rows (limit) or fewer columns (select)';
end
$$;

grant usage on schema mobvibe to anon, authenticated, service_role;
revoke all on function mobvibe.refuse_large_response(bigint, bigint) from public;
grant execute on function mobvibe.refuse_large_response(bigint, bigint) to anon, authenticated, service_role;
