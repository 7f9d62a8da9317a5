import { parseEventRecord, toClientEvent, type ClientSessionEvent } from '@mobvibe/events';
import type { SupabaseClient } from '@supabase/supabase-js';
import { ClientErrorCode, RealtimeClientError } from './errors.js';

/** The server refused the page as too many bytes (PostgREST-style PT413, this project's MOBVIBE_MAX_RESPONSE_BYTES). */
const isTooLarge = (error: { code?: string }) => error.code === 'PT413';

type Query = PromiseLike<{ data: unknown; error: { message: string; code?: string } | null }> & { setHeader(n: string, v: string): unknown };

/**
 * @internal Reads a session's events over REST (PostgREST through supabase-js), ordered by seq,
 * each validated against @mobvibe/events. A page the server finds too large (large events) is read in
 * smaller requests instead, so callers always get up to `limit` rows.
 */
export class History {
  constructor(
    private readonly supabase: SupabaseClient,
    private readonly token: () => Promise<string | undefined>,
  ) {}

  /** Events with after < seq (< before, when given), ascending, at most `limit`. */
  async after(sessionId: string, after: number, limit: number, before?: number): Promise<ClientSessionEvent[]> {
    const out: ClientSessionEvent[] = [];
    let cursor = after;
    let chunk = limit;
    while (out.length < limit) {
      const want = Math.min(chunk, limit - out.length);
      let q = this.supabase.from('session_events').select('*').eq('session_id', sessionId).gt('seq', cursor);
      if (before !== undefined) q = q.lt('seq', before);
      const page = await this.run(q.order('seq', { ascending: true }).limit(want));
      if (page === 'too large') {
        chunk = this.smaller(chunk);
        continue;
      }
      out.push(...page);
      if (page.length < want) break;
      cursor = page[page.length - 1]!.seq;
    }
    return out;
  }

  /** The latest `limit` events (before `before`, when given), ascending. */
  async latest(sessionId: string, limit: number, before?: number): Promise<ClientSessionEvent[]> {
    const out: ClientSessionEvent[] = [];
    let upper = before;
    let chunk = limit;
    while (out.length < limit) {
      const want = Math.min(chunk, limit - out.length);
      let q = this.supabase.from('session_events').select('*').eq('session_id', sessionId);
      if (upper !== undefined) q = q.lt('seq', upper);
      const page = await this.run(q.order('seq', { ascending: false }).limit(want));
      if (page === 'too large') {
        chunk = this.smaller(chunk);
        continue;
      }
      out.push(...page);
      if (page.length < want) break;
      upper = page[page.length - 1]!.seq;
    }
    return out.reverse();
  }

  private smaller(chunk: number): number {
    if (chunk <= 1) throw new RealtimeClientError(ClientErrorCode.CatchUpFailed, 'loading events failed: a single event is larger than the server will send');
    return Math.max(1, Math.floor(chunk / 4));
  }

  private async run(query: Query): Promise<ClientSessionEvent[] | 'too large'> {
    const token = await this.token();
    if (token) query.setHeader('Authorization', `Bearer ${token}`);
    const { data, error } = await query;
    if (error && isTooLarge(error)) return 'too large';
    if (error) throw new RealtimeClientError(ClientErrorCode.CatchUpFailed, `loading events failed: ${error.message}`, { cause: error });
    return (data as unknown[]).map((row) => toClientEvent(parseEventRecord(row)));
  }
}
