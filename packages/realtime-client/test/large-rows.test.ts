// Rows over the server's live-size cap (MOBVIBE_RT_MAX_LIVE_ROW_BYTES) travel with only their small fields and
// errors ["Error 413: Payload Too Large"], as Supabase does with large payloads; RealtimeService reads such a row
// by REST and hands it over in seq order, whole. Real server, real supabase-js, the official subscription.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RealtimeService } from '@mobvibe/realtime-client';
import { startTestServer, supabaseClient, type TestServer } from '@mobvibe/testkit';
import { EventEmitter } from '@mobvibe/worker';
import { Collector } from './support.js';

let t: TestServer;
before(async () => {
  t = await startTestServer({ limits: { realtime: { maxLiveRowBytes: 4096 } } });
});
after(() => t?.close());

describe('rows over the live-size cap', () => {
  it('arrive as their small fields with errors "Error 413", and RealtimeService delivers them whole by REST, in seq order', async () => {
    const user = randomUUID();
    const sessionId = await t.createSession(user);
    // What supabase-js subscribers see, as the original plan subscribes.
    const raw: Array<{ errors: unknown; new: Record<string, unknown> }> = [];
    const client = supabaseClient(t.url, t.anonKey, t.tokenFor(user));
    const channel = client
      .channel(`session:${sessionId}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }, (p) => raw.push(p as never));
    // realtime-js may join before it has the user's token; the server refuses that join and the client retries.
    await client.realtime.setAuth(t.tokenFor(user));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('supabase-js never subscribed')), 15_000);
      channel.subscribe((status) => {
        if (status === 'SUBSCRIBED') {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    const service = new RealtimeService({ supabase: supabaseClient(t.url, t.anonKey, t.tokenFor(user)) });
    const got = new Collector();
    const off = service.subscribe(sessionId, got.handler, { afterSeq: 0 });

    const emitter = new EventEmitter({ supabaseUrl: t.url, serviceRoleKey: t.serviceRoleKey });
    const big = 'y'.repeat(20_000);
    await emitter.emit(sessionId, { type: 'terminal', data: { command: 'small 1', output: '' } });
    await emitter.emit(sessionId, { type: 'terminal', data: { command: 'big', output: big } });
    await emitter.emit(sessionId, { type: 'terminal', data: { command: 'small 3', output: '' } });

    await got.waitFor(3, 15_000);
    got.assertExactlyOnceInOrder(3);
    const bigEvent = got.events[1]!;
    assert.equal((bigEvent.data as { output: string }).output.length, 20_000, 'the client has the whole row');

    for (let i = 0; raw.length < 3; i++) {
      if (i > 500) throw new Error(`supabase-js got ${raw.length} of 3 changes`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(raw.map((p) => p.new.seq), [1, 2, 3]);
    assert.equal(raw[0]!.errors, null);
    assert.deepEqual(raw[1]!.errors, ['Error 413: Payload Too Large']);
    assert.equal(raw[1]!.new.payload, undefined, 'the big field is not carried live');
    assert.equal(raw[1]!.new.session_id, sessionId);
    assert.equal(raw[1]!.new.event_type, 'terminal');
    assert.equal(raw[2]!.errors, null);
    off();
    await service.close();
    await client.removeAllChannels();
  });
});
