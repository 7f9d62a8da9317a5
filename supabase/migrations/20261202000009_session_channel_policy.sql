-- Who may use this project's private channel `session:<session id>` (the app's RealtimeService joins it with
-- private: true): the session's owner may receive on it (broadcast and presence, and so join it); nobody but
-- service_role (which bypasses Row Level Security) may send on it. Other topics are untouched: with no policy
-- of theirs, only service_role may use them privately. The same policy works on hosted Supabase, which decides
-- private channels by these policies too.
--
-- The topic is matched strictly before it is cast, inside CASE, because SQL does not promise to evaluate the
-- parts of an AND in order. (select ...) around realtime.topic() and auth.uid() lets PostgreSQL compute them once
-- per check, as Supabase's docs advise. Idempotent.

drop policy if exists session_channel_owner_receives on realtime.messages;
create policy session_channel_owner_receives on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension in ('broadcast', 'presence')
    and case
      when (select realtime.topic()) ~* '^session:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        exists (select 1 from public.sessions s
                 where s.id = substr((select realtime.topic()), 9)::uuid and s.user_id = (select auth.uid()))
      else false
    end
  );
