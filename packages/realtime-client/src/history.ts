import { parseEventRecord, toClientEvent, type ClientSessionEvent } from '@mobvibe/events';
import type { SupabaseClient } from '@supabase/supabase-js';
import { ClientErrorCode, RealtimeClientError } from './errors.js';

/**
 * @internal Reads a session's events over REST (PostgREST through supabase-js), ordered by seq,
 * each validated against @mobvibe/events.
 */
export class History {
  constructor(
    private readonly supabase: SupabaseClient,
    private readonly token: () => Promise<string | undefined>,
  ) {}

  /** Events with after < seq (< before, when given), ascending, at most `limit`. */
  async after(sessionId: string, after: number, limit: number, before?: number): Promise<ClientSessionEvent[]> {
    let q = this.supabase.from('session_events').select('*').eq('session_id', sessionId).gt('seq', after);
    if (before !== undefined) q = q.lt('seq', before);
    return this.run(q.order('seq', { ascending: true }).limit(limit));
  }

  /** The latest `limit` events (before `before`, when given), ascending. */
  async latest(sessionId: string, limit: number, before?: number): Promise<ClientSessionEvent[]> {
    let q = this.supabase.from('session_events').select('*').eq('session_id', sessionId);
    if (before !== undefined) q = q.lt('seq', before);
    return (await this.run(q.order('seq', { ascending: false }).limit(limit))).reverse();
  }

  private async run(query: PromiseLike<{ data: unknown; error: { message: string } | null }> & { setHeader(n: string, v: string): unknown }): Promise<ClientSessionEvent[]> {
    const token = await this.token();
    if (token) query.setHeader('Authorization', `Bearer ${token}`);
    const { data, error } = await query;
    if (error) throw new RealtimeClientError(ClientErrorCode.CatchUpFailed, `loading events failed: ${error.message}`, { cause: error });
    return (data as unknown[]).map((row) => toClientEvent(parseEventRecord(row)));
  }
}
