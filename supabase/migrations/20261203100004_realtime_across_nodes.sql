-- Realtime across server processes on one database: Broadcast from Database as hosted Supabase has it
-- (realtime.send, realtime.broadcast_changes, and the publication through which Realtime reads realtime.messages),
-- and the presence each server process holds, kept where every other one can read it (docs/backend/REALTIME.md,
-- "Several server processes"). On hosted Supabase the functions and the publication exist already and are left
-- alone. Idempotent.

-- The publication hosted Supabase Realtime reads realtime.messages through (its ReplicationConnection creates it
-- the same way: the partitioned table, so every daily partition, without publish_via_partition_root).
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime_messages_publication') then
    create publication supabase_realtime_messages_publication for table realtime.messages;
  end if;
end
$$;

-- realtime.send(payload, event, topic, private): a broadcast from SQL, delivered to the topic's subscribers on
-- every server process once the transaction commits (private: to private channels, whose broadcast read policy
-- must let them receive; else to public ones). As on Supabase: the payload gets an `id` when it has none, the
-- insert runs as the caller (a caller other than service_role needs an insert policy on realtime.messages, which
-- can read the topic with realtime.topic()), and a failed insert (no policy, no partition for today) is a WARNING
-- "WarnSendingBroadcastMessage", not an error of the calling transaction.
do $$
begin
  if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'realtime' and p.proname = 'send') then
    create function realtime.send(payload jsonb, event text, topic text, private boolean default true) returns void
    language plpgsql
    as $f$
    declare
      message_id uuid := gen_random_uuid();
    begin
      begin
        perform set_config('realtime.topic', topic, true);
        insert into realtime.messages (id, payload, event, topic, private, extension)
        values (message_id,
                case when payload ? 'id' then payload else payload || jsonb_build_object('id', message_id) end,
                event, topic, private, 'broadcast');
      exception when others then
        raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
      end;
    end
    $f$;
    grant execute on function realtime.send(jsonb, text, text, boolean) to anon, authenticated, service_role;
  end if;
end
$$;

-- realtime.broadcast_changes(...): for a row trigger, sends {schema, table, operation, record, old_record} as a
-- broadcast (private), as Supabase's function of that name does.
do $$
begin
  if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'realtime' and p.proname = 'broadcast_changes') then
    create function realtime.broadcast_changes(topic_name text, event_name text, operation text, table_name text,
                                               table_schema text, new record, old record, level text default 'ROW')
    returns void
    language plpgsql
    as $f$
    begin
      if level = 'STATEMENT' then
        raise exception 'realtime.broadcast_changes can only be called from a row trigger (for each row), not a statement trigger';
      end if;
      if operation not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'unexpected operation %: realtime.broadcast_changes sends INSERT, UPDATE or DELETE', operation;
      end if;
      perform realtime.send(
        jsonb_build_object('old_record', old, 'record', new, 'operation', operation, 'table', table_name, 'schema', table_schema),
        event_name, topic_name);
    end
    $f$;
    grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
      to anon, authenticated, service_role;
  end if;
end
$$;

-- The presence each server process holds: one row per tracking channel (node = the process's node id, which its
-- replication slot names; room = public|topic or private|topic; holder = the channel within the node; meta = what
-- it tracked, with its phx_ref). A process writes its own rows, announcing each write in the same transaction as
-- a logical decoding message that every process reads from its change feed; the rows let a process that starts,
-- or whose stream was lost, load everyone's state. Rows of a process without a replication slot (it is gone) are
-- deleted by whichever process sweeps first. Only the server's own role reads or writes it.
create table if not exists mobvibe.presence (
  node text not null,
  room text not null,
  holder bigint not null,
  key text not null,
  meta jsonb not null,
  primary key (node, room, holder)
);
revoke all on mobvibe.presence from public, anon, authenticated, service_role;
