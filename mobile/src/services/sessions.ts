import { isUuid } from '@mobvibe/events';
import type { SupabaseClient } from '@supabase/supabase-js';

/** A row of `public.sessions` as the app shows it. */
export interface SessionSummary {
  id: string;
  title: string | null;
  status: string | null;
  createdAt: string;
}

interface SessionRow {
  id: string;
  title: string | null;
  status: string | null;
  created_at: string;
}

const COLUMNS = 'id,title,status,created_at';

/** The signed-in user's sessions, newest first (Row Level Security limits them to the user's own). */
export async function listSessions(supabase: SupabaseClient, limit = 100): Promise<SessionSummary[]> {
  const { data, error } = await supabase.from('sessions').select(COLUMNS).order('created_at', { ascending: false }).limit(limit);
  if (error) throw new Error(`loading sessions failed: ${error.message}`, { cause: error });
  return (data as SessionRow[]).map(toSummary);
}

/** One session, or null when it does not exist or belongs to someone else (RLS hides both alike). */
export async function getSession(supabase: SupabaseClient, id: string): Promise<SessionSummary | null> {
  if (!isUuid(id)) return null;
  const { data, error } = await supabase.from('sessions').select(COLUMNS).eq('id', id).maybeSingle();
  if (error) throw new Error(`loading the session failed: ${error.message}`, { cause: error });
  return data ? toSummary(data as SessionRow) : null;
}


function toSummary(row: SessionRow): SessionSummary {
  return { id: row.id, title: row.title, status: row.status, createdAt: row.created_at };
}
