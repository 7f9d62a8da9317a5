-- public.append_session_events(events jsonb): stores a batch of events with set-based seq numbering. The
-- worker SDK calls it (POST /rest/v1/rpc/append_session_events) instead of inserting rows one trigger call at
-- a time: per batch it takes each session's numbers with one UPDATE, probes for retried ids with one index
-- scan, and inserts every row with one INSERT. bench/insert-cost.ts: ~40 -> ~31 µs of PostgreSQL CPU per event
-- for 100 events over 100 sessions (PERFORMANCE.md).
--
-- The guarantees of the row trigger (migrations 1, 3 and 5) hold the same way:
--  * seq is 1, 2, 3, ... per session, gap-free, in commit order: the UPDATE locks each counter row until the
--    transaction ends, so a second writer to the same session waits, then takes the numbers after these;
--  * counters are locked in session order (a plain index scan of the primary key, bitmap scans off), as the
--    SDK sorts a batch's rows, so two batches cannot deadlock on each other's sessions;
--  * a missing session is refused with foreign_key_violation (23503), as before;
--  * a retried call whose first attempt was stored (its answer was lost) stores nothing twice and consumes no
--    numbers: those ids answer with their stored seq. The probe runs after the counters are locked, so its
--    snapshot includes a concurrent first attempt's commit.
--
-- Only this function supplies seq: the row trigger still numbers every other insert (whatever seq it names),
-- and skips only the rows this function inserts, which it marks by running with mobvibe.appending = 'on' (a
-- function SET clause: it holds while the function runs and is undone when it returns). No API role may write
-- the column either: an insert that names seq is refused with 42501. Idempotent.
drop trigger if exists session_events_assign_seq on public.session_events;
create trigger session_events_assign_seq
  before insert on public.session_events
  for each row when (current_setting('mobvibe.appending', true) is distinct from 'on')
  execute function public.session_events_assign_seq();

revoke insert on public.session_events from anon, authenticated, service_role;
grant insert (id, session_id, event_type, payload, created_at) on public.session_events to service_role;

create or replace function public.append_session_events(events jsonb)
returns table (id uuid, session_id uuid, seq bigint, created_at timestamptz)
language plpgsql
volatile
security definer
set search_path = pg_catalog, public
-- Pins every table access to a plain index scan: a plan cached while a table was small must not scan it whole
-- later (see migration 5), and the counter UPDATE must lock rows in key order. The common path joins no table;
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
