// Helpers for the realtime-*.test.ts files: waiting on supabase-js channel statuses, and a raw WebSocket client
// for what supabase-js never sends (malformed frames, floods, crafted joins). Not a test file itself.
import http from 'node:http';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import type { TestServer } from '@mobvibe/testkit';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * supabase-js applies its access token asynchronously after createClient(); a join sent before that carries only
 * the anon key. Tests that are not about that race let it settle first.
 */
export async function settled<C extends SupabaseClient>(client: C): Promise<C> {
  await new Promise((r) => setImmediate(r));
  return client;
}

export interface Statuses {
  list: Array<{ status: string; message: string | undefined }>;
}

/** Subscribes and resolves on SUBSCRIBED; rejects on the first CHANNEL_ERROR, TIMED_OUT or CLOSED. */
export function subscribe(channel: RealtimeChannel, timeoutMs = 8_000): Promise<Statuses> {
  const statuses: Statuses = { list: [] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no SUBSCRIBED within ${timeoutMs} ms: ${JSON.stringify(statuses.list)}`)), timeoutMs);
    channel.subscribe((status, err) => {
      statuses.list.push({ status, message: err?.message });
      if (status === 'SUBSCRIBED') {
        clearTimeout(timer);
        resolve(statuses);
      } else {
        clearTimeout(timer);
        reject(new Error(`${status}: ${err?.message ?? ''}`));
      }
    });
  });
}

/** Subscribes expecting refusal: resolves with the error message of the first CHANNEL_ERROR, then removes the channel. */
export function joinRefusal(client: SupabaseClient, channel: RealtimeChannel, timeoutMs = 8_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no CHANNEL_ERROR within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    channel.subscribe((status, err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void client.removeChannel(channel);
      if (status === 'CHANNEL_ERROR') resolve(err?.message ?? '');
      else reject(new Error(`expected CHANNEL_ERROR, got ${status}`));
    });
  });
}

/** Six events, one of each type, as REST rows for `session_id`. */
export function sixEvents(sessionId: string): Array<{ session_id: string; event_type: string; payload: Record<string, unknown> }> {
  return [
    { session_id: sessionId, event_type: 'thinking', payload: { iteration: 1, toolsUsed: ['bash', 'edit'] } },
    { session_id: sessionId, event_type: 'file_change', payload: { path: 'src/app.ts', action: 'write' } },
    { session_id: sessionId, event_type: 'terminal', payload: { command: 'npm test', output: 'ok', error: '' } },
    { session_id: sessionId, event_type: 'preview_ready', payload: { url: 'https://preview.example/1', qrCode: 'data:qr' } },
    { session_id: sessionId, event_type: 'error', payload: { message: 'boom', code: 'E1' } },
    { session_id: sessionId, event_type: 'completion', payload: { message: 'done' } },
  ];
}

export const thinking = (sessionId: string, i: number) => ({ session_id: sessionId, event_type: 'thinking', payload: { iteration: i, toolsUsed: [] } });

export function socketUrl(t: TestServer, key: string | undefined, vsn: '1.0.0' | '2.0.0' | string = '2.0.0'): string {
  const url = new URL('/realtime/v1/websocket', t.url.replace(/^http/, 'ws'));
  if (key !== undefined) url.searchParams.set('apikey', key);
  url.searchParams.set('vsn', vsn);
  return url.toString();
}

export type Frame = { joinRef: string | null; ref: string | null; topic: string; event: string; payload: any } | { binary: Buffer };

/**
 * A raw Phoenix client: sends exactly what a test writes, records every frame it receives.
 *
 * @example
 * const c = await RawClient.open(socketUrl(t, t.anonKey));
 * c.send(['1', '1', 'realtime:room', 'phx_join', { config: {} }]);
 * const reply = await c.next((f) => f.ref === '1');
 */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private ref = 0;

  private constructor(readonly ws: WebSocket, readonly vsn: string) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return this.frames.push({ binary: data });
      const v = JSON.parse(data.toString());
      this.frames.push(Array.isArray(v) ? { joinRef: v[0], ref: v[1], topic: v[2], event: v[3], payload: v[4] } : { joinRef: v.join_ref ?? null, ref: v.ref, topic: v.topic, event: v.event, payload: v.payload });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    const vsn = new URL(url).searchParams.get('vsn') ?? '1.0.0';
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawClient(ws, vsn)));
      ws.once('error', reject);
    });
  }

  nextRef(): string {
    return String(++this.ref);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Sends `[joinRef, ref, topic, event, payload]` in this socket's vsn form. */
  push(joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown): void {
    this.send(this.vsn === '2.0.0' ? [joinRef, ref, topic, event, payload] : { join_ref: joinRef, ref, topic, event, payload });
  }

  /** Joins and returns the reply frame. */
  async join(topic: string, payload: unknown = { config: {} }): Promise<{ joinRef: string; reply: any }> {
    const ref = this.nextRef();
    this.push(ref, ref, topic, 'phx_join', payload);
    const reply = await this.next((f) => f.event === 'phx_reply' && f.ref === ref);
    return { joinRef: ref, reply: reply.payload };
  }

  /** Waits for a text frame matching `pred` (already received or arriving). */
  async next(pred: (f: Extract<Frame, { event: string }>) => boolean, timeoutMs = 5_000): Promise<Extract<Frame, { event: string }>> {
    return waitFor(() => this.frames.find((f): f is Extract<Frame, { event: string }> => 'event' in f && pred(f)), 'a matching frame', timeoutMs);
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * A plain HTTP upgrade request to `path` on the test server, to see a refusal (status and body) as the client's
 * WebSocket library would, or 101. `omitKey` leaves out Sec-WebSocket-Key (an invalid handshake).
 */
export function upgradeRequest(t: TestServer, path: string, opts: { omitKey?: boolean } = {}): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' };
  if (!opts.omitKey) headers['sec-websocket-key'] = 'dGhlIHNhbXBsZSBub25jZQ==';
  return new Promise((resolve, reject) => {
    const req = http.request(`${t.url}${path}`, { headers });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}
