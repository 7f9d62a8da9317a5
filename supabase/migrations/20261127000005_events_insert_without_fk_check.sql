-- Takes the per-row foreign-key check off the event insert path, and makes the seq trigger's common case one
-- UPDATE. Under scenario (b) of the benchmark (10,000 events/s) the foreign key's check cost more than its
-- share: each inserted event took a FOR KEY SHARE lock on its sessions row, which writes that row and logs it.
-- Without it, (b)'s p99 commit→receipt went from 22–25 ms (three runs) to 17–18 ms (five runs; PERFORMANCE.md).
--
-- What the foreign key guaranteed still holds:
--  * An event needs an existing session. The seq trigger takes the session's counter row in
--    mobvibe.session_seq, which references sessions (on delete cascade), or creates it from the sessions row;
--    a missing session is refused with foreign_key_violation (23503), as before.
--  * Deleting a session deletes its events: trigger sessions_delete_events. It first deletes the counter row,
--    which waits for any transaction still inserting into that session (the inserter holds the counter's row
--    lock until it ends), then deletes the events in a new statement, whose snapshot includes what such an
--    inserter committed. An insert that comes after the delete finds neither counter nor session: 23503.
--  * An event's session_id never changes (session_events_immutable_keys, migration 1).
-- Idempotent.

alter table public.session_events drop constraint if exists session_events_session_id_fkey;

-- Deleting a session deletes its counter and its events (what "on delete cascade" did).
create or replace function public.sessions_delete_events() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
set enable_seqscan = off
as $$
begin
  delete from mobvibe.session_seq where session_id = old.id;
  delete from public.session_events where session_id = old.id;
  return null;
end
$$;
drop trigger if exists sessions_delete_events on public.sessions;
create trigger sessions_delete_events after delete on public.sessions
  for each row execute function public.sessions_delete_events();

-- The first number of a session (its counter row does not exist yet): creates the counter from the sessions
-- row, or refuses a missing session. Also the slow path for a session whose counter was just deleted.
create or replace function mobvibe.session_seq_first(session uuid) returns bigint
language plpgsql
security definer
set search_path = pg_catalog, public
set enable_seqscan = off
as $$
declare
  taken bigint;
begin
  insert into mobvibe.session_seq as c (session_id, last_seq)
    select s.id, 1 from public.sessions s where s.id = session
    on conflict (session_id) do update set last_seq = c.last_seq + 1
    returning c.last_seq into taken;
  if taken is null then
    raise foreign_key_violation
      using message = format('session %s does not exist', session),
            detail = format('Key (session_id)=(%s) is not present in table "sessions".', session);
  end if;
  return taken;
end
$$;
revoke all on function mobvibe.session_seq_first(uuid) from public;

-- Runs for every inserted event, so it avoids a search_path switch: every name and operator is
-- schema-qualified instead. enable_seqscan = off pins its lookups to the primary keys: plpgsql caches a plan
-- per connection, and one planned while a table was one page (a new database, or statistics taken then) would
-- otherwise keep scanning the whole table as it grows, until the next ANALYZE. Under (b) after other
-- scenarios, that made each counter update cost ~100 µs and the run fall seconds behind.
create or replace function public.session_events_assign_seq() returns trigger
language plpgsql
security definer
set enable_seqscan = off
as $$
declare
  existing_seq bigint;
begin
  -- Locks the counter row until the inserting transaction ends (see 20261127000001_session_events.sql).
  update mobvibe.session_seq c set last_seq = c.last_seq operator(pg_catalog.+) 1
    where c.session_id operator(pg_catalog.=) new.session_id
    returning c.last_seq into new.seq;
  if new.seq is null then
    new.seq := mobvibe.session_seq_first(new.session_id);
  end if;
  -- A retried insert of an id that is already stored must not consume a number: give it back and keep the
  -- stored seq, so ON CONFLICT (id) DO NOTHING skips the row and a plain insert fails on the primary key.
  -- (A separate statement after taking the lock: its snapshot includes a concurrent first attempt's commit.)
  select e.seq into existing_seq from public.session_events e where e.id operator(pg_catalog.=) new.id;
  if found then
    update mobvibe.session_seq c set last_seq = c.last_seq operator(pg_catalog.-) 1
      where c.session_id operator(pg_catalog.=) new.session_id;
    new.seq := existing_seq;
  end if;
  return new;
end
$$;
