-- seq: 1, 2, 3, ... per session, gap-free, in commit order, whoever writes (REST, the worker's
-- append_session_events, psql); and public.append_session_events(events jsonb), the set-based way to store a
-- batch. Idempotent. See docs/backend/REALTIME.md, "seq: gap-free, in commit order".
--
-- Each session's counter is one row of mobvibe.session_seq. Taking numbers locks that row until the inserting
-- transaction ends. A second writer to the same session waits for the lock, so it can only take N+1 after N has
-- committed (or rolled back, which also rolls back the counter: no gaps). Readers therefore never see N+1 before
-- N. The counter lives in its own small table, not in sessions, so taking a number fires no trigger of sessions
-- and costs one index update per event.
--
-- session_events has no foreign key (20261203100001_schema_roles_rls.sql); what it guaranteed holds here:
--  * An event needs an existing session: the counter row references sessions (on delete cascade), or is created
--    from the sessions row; a missing session is refused with foreign_key_violation (23503).
--  * Deleting a session deletes its events: trigger sessions_delete_events. It first deletes the counter row,
--    which waits for any transaction still inserting into that session (the inserter holds the counter's row
--    lock until it ends), then deletes the events in a new statement, whose snapshot includes what such an
--    inserter committed. An insert that comes after the delete finds neither counter nor session: 23503.
--  * An event's session_id never changes (session_events_immutable_keys).

create table if not exists mobvibe.session_seq (
  session_id uuid primary key references public.sessions(id) on delete cascade,
  last_seq bigint not null
);
revoke all on mobvibe.session_seq from public, anon, authenticated, service_role;

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
  -- Locks the counter row until the inserting transaction ends (see the top of this file).
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

-- Only append_session_events supplies seq: the row trigger numbers every other insert (whatever seq it names),
-- and skips only the rows that function inserts, which it marks by running with mobvibe.appending = 'on' (a
-- function SET clause: it holds while the function runs and is undone when it returns). No API role may write
-- the column either: an insert that names seq is refused with 42501.
drop trigger if exists session_events_assign_seq on public.session_events;
create trigger session_events_assign_seq
  before insert on public.session_events
  for each row when (current_setting('mobvibe.appending', true) is distinct from 'on')
  execute function public.session_events_assign_seq();


-- public.append_session_events(events jsonb): the worker SDK calls it (POST /rest/v1/rpc/append_session_events)
-- instead of inserting rows one trigger call at a time: per batch it takes each session's numbers with one
-- UPDATE, probes for retried ids with one index scan, and inserts every row with one INSERT (PERFORMANCE.md,
-- "Set-based seq numbering"). The row trigger's guarantees hold the same way:
--  * the UPDATE locks each counter row until the transaction ends, so a second writer to the same session
--    waits, then takes the numbers after these;
--  * counters are locked in session order (a plain index scan of the primary key, bitmap scans off), as the
--    SDK sorts a batch's rows, so two batches cannot deadlock on each other's sessions;
--  * a missing session is refused with foreign_key_violation (23503);
--  * a retried call whose first attempt was stored (its answer was lost) stores nothing twice and consumes no
--    numbers: those ids answer with their stored seq. The probe runs after the counters are locked, so its
--    snapshot includes a concurrent first attempt's commit.
create or replace function public.append_session_events(events jsonb)
returns table (id uuid, session_id uuid, seq bigint, created_at timestamptz)
language plpgsql
volatile
security definer
set search_path = pg_catalog, public
-- Pins every table access to a plain index scan: a plan cached while a table was small must not scan it whole
-- later (see session_events_assign_seq above), and the counter UPDATE must lock rows in key order. The common path joins no table;
-- the rare ones (first events, retries) join a handful of rows, for which nested loops are right.
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
-- Tells the row trigger that these rows are numbered already (see the trigger above).
set mobvibe.appending = 'on'
as $$
#variable_conflict use_column
declare
  n_events int;
  sids uuid[];      -- the sessions of the batch, sorted
  counts int[];     -- events per session, in the same order
  taken uuid[];     -- sessions whose existing counter the UPDATE took
  missing uuid;
  dup uuid;
  stored uuid[];    -- ids of the batch that are already stored (a retried call)
begin
  if jsonb_typeof(events) is distinct from 'array' then
    raise invalid_parameter_value using message = 'events must be a JSON array of events';
  end if;
  n_events := jsonb_array_length(events);
  if n_events = 0 then
    return;
  end if;
  if n_events > 1000 then
    raise program_limit_exceeded using message = format('%s events in one call; the limit is 1000', n_events);
  end if;

  select array_agg(k.s order by k.s), array_agg(k.n order by k.s) into sids, counts
    from (select r.session_id as s, count(*)::int as n
            from jsonb_to_recordset(events) as r(session_id uuid) group by 1) k;
  if array_position(sids, null) is not null then
    raise not_null_violation using message = 'every event needs a session_id', column = 'session_id';
  end if;
  select r.id into dup from jsonb_to_recordset(events) as r(id uuid) group by 1 having count(*) > 1 or r.id is null limit 1;
  if found then
    if dup is null then
      raise not_null_violation using message = 'every event needs an id', column = 'id';
    end if;
    raise unique_violation using message = format('event id %s appears more than once in the batch', dup);
  end if;

  -- Take each session's numbers (and lock its counter until commit), in session order.
  with u as (
    update mobvibe.session_seq c set last_seq = c.last_seq + counts[array_position(sids, c.session_id)]
      where c.session_id = any(sids)
      returning c.session_id)
  select array_agg(u.session_id) into taken from u;

  -- Sessions without a counter (their first events, or a counter just deleted): create it from the sessions
  -- row, or add to one a concurrent first insert created meanwhile.
  if coalesce(cardinality(taken), 0) < cardinality(sids) then
    insert into mobvibe.session_seq as c (session_id, last_seq)
      select s.id, k.n
        from unnest(sids, counts) as k(s, n)
        join public.sessions s on s.id = k.s
       where not (k.s = any(coalesce(taken, '{}')))
       order by k.s
      on conflict (session_id) do update set last_seq = c.last_seq + excluded.last_seq;
    select k.s into missing
      from unnest(sids) as k(s)
     where not exists (select 1 from mobvibe.session_seq c where c.session_id = k.s)
     limit 1;
    if found then
      raise foreign_key_violation
        using message = format('session %s does not exist', missing),
              detail = format('Key (session_id)=(%s) is not present in table "sessions".', missing);
    end if;
  end if;

  -- A retried call: ids already stored keep their seq and give back the numbers just taken for them.
  select array_agg(e.id) into stored
    from public.session_events e
   where e.id = any(array(select r.id from jsonb_to_recordset(events) as r(id uuid)));
  if stored is not null then
    update mobvibe.session_seq c set last_seq = c.last_seq - k.n
      from (select r.session_id as s, count(*)::int as n
              from jsonb_to_recordset(events) as r(id uuid, session_id uuid)
             where r.id = any(stored) group by 1) k
     where c.session_id = k.s;
  end if;

  -- The new events: the k-th of a session's n new events gets (counter - n + k).
  return query
  with added as (
    insert into public.session_events as e (id, session_id, seq, event_type, payload)
      select r.id, r.session_id,
             (select c.last_seq from mobvibe.session_seq c where c.session_id = r.session_id)
               - count(*) over (partition by r.session_id)
               + row_number() over (partition by r.session_id order by r.ord),
             r.event_type, r.payload
        from rows from (jsonb_to_recordset(events) as (id uuid, session_id uuid, event_type text, payload jsonb))
             with ordinality as r(id, session_id, event_type, payload, ord)
       where not (r.id = any(coalesce(stored, '{}')))
      returning e.id, e.session_id, e.seq, e.created_at)
  select a.id, a.session_id, a.seq, a.created_at from added a
  union all
  select e.id, e.session_id, e.seq, e.created_at from public.session_events e where e.id = any(coalesce(stored, '{}'));
end
$$;

revoke all on function public.append_session_events(jsonb) from public, anon, authenticated;
grant execute on function public.append_session_events(jsonb) to service_role;
