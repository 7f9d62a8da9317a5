import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import {
  EventEmitter,
  EventValidationError,
  MAX_EVENTS_PER_BATCH,
  type SessionEvent,
} from '@mobvibe/worker';
import { countingFetch, emitterFor, silent, storedRows } from './support/helpers.js';

const SIX: SessionEvent[] = [
  { type: 'thinking', data: { iteration: 1, toolsUsed: ['bash', 'edit'] } },
  { type: 'file_change', data: { path: 'src/App.tsx', action: 'write' } },
  { type: 'terminal', data: { command: 'npm test', output: 'ok\n', error: 'warning: slow test' } },
  { type: 'preview_ready', data: { url: 'https://preview.example.com/s/1', qrCode: 'data:image/png;base64,AAAA' } },
  { type: 'error', data: { message: 'tsc failed', code: 'TS2322' } },
  { type: 'completion', data: { message: 'done' } },
];

const thinking = (iteration: number): SessionEvent => ({ type: 'thinking', data: { iteration, toolsUsed: [] } });

describe('EventEmitter: storing and reading events', () => {
  let t: TestServer;
  let emitter: EventEmitter;
  const user = randomUUID();

  before(async () => {
    t = await startTestServer();
    emitter = emitterFor(t);
  });
  after(() => t.close());

  it('emits events to the database (the original plan test): getHistory has it, event_type thinking', async () => {
    process.env.SUPABASE_URL = t.url;
    process.env.SUPABASE_SERVICE_ROLE_KEY = t.serviceRoleKey;
    const fromEnv = new EventEmitter({ logger: silent });
    const session = await t.createSession(user);

    await fromEnv.emit(session, { type: 'thinking', data: { iteration: 1, toolsUsed: ['bash'] } });

    const history = await fromEnv.getHistory(session);
    assert.equal(history.length, 1);
    assert.equal(history[0]!.event_type, 'thinking');
  });

  it('round-trips all six event types with seq 1..6 and their payloads as objects', async () => {
    const session = await t.createSession(user);
    const emitted = [];
    for (const event of SIX) emitted.push(await emitter.emit(session, event));

    assert.deepEqual(emitted.map((r) => r.seq), [1, 2, 3, 4, 5, 6]);
    const history = await emitter.getHistory(session);
    assert.deepEqual(history, emitted);
    history.forEach((record, i) => {
      assert.equal(record.session_id, session);
      assert.equal(record.event_type, SIX[i]!.type);
      assert.deepEqual(record.payload, SIX[i]!.data);
      assert.equal(typeof record.payload, 'object');
      assert.equal(typeof record.seq, 'number');
      assert.ok(!Number.isNaN(Date.parse(record.created_at)));
    });
  });

  it('emit resolves to the committed row: the database already has it with the same id and seq', async () => {
    const session = await t.createSession(user);
    const record = await emitter.emit(session, thinking(7));
    assert.deepEqual(await storedRows(t.sql, session), [{ id: record.id, seq: 1, event_type: 'thinking' }]);
  });

  it('getHistory returns the last `limit` events, oldest first', async () => {
    const session = await t.createSession(user);
    for (let i = 1; i <= 5; i++) await emitter.emit(session, thinking(i));

    const last3 = await emitter.getHistory(session, 3);
    assert.deepEqual(last3.map((r) => r.seq), [3, 4, 5]);
    assert.deepEqual(last3.map((r) => (r.payload as { iteration: number }).iteration), [3, 4, 5]);
    assert.deepEqual((await emitter.getHistory(session)).map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(await emitter.getHistory(await t.createSession(user)), []);
  });

  it('orders history by seq, not created_at', async () => {
    const session = await t.createSession(user);
    for (let i = 1; i <= 4; i++) await emitter.emit(session, thinking(i));
    // Make created_at run backwards: a clock step or a batch (one now() for all rows) must not reorder history.
    await t.sql.query(`update public.session_events set created_at = now() - seq * interval '1 minute' where session_id = $1`, [session]);

    assert.deepEqual((await emitter.getHistory(session)).map((r) => r.seq), [1, 2, 3, 4]);
    assert.deepEqual((await emitter.getHistory(session, 2)).map((r) => r.seq), [3, 4]);
  });

  it('getHistoryAfter returns only the events after a seq, ascending, in pages of `limit`', async () => {
    const session = await t.createSession(user);
    await emitter.emitMany(session, [1, 2, 3, 4, 5, 6, 7].map(thinking));

    assert.deepEqual((await emitter.getHistoryAfter(session, 4)).map((r) => r.seq), [5, 6, 7]);
    assert.deepEqual(await emitter.getHistoryAfter(session, 7), []);

    const caughtUp: number[] = [];
    let lastSeen = 0;
    for (let page = 0; page < 10; page++) {
      const batch = await emitter.getHistoryAfter(session, lastSeen, 3);
      caughtUp.push(...batch.map((r) => r.seq));
      if (batch.length < 3) break;
      lastSeen = batch[batch.length - 1]!.seq;
    }
    assert.deepEqual(caughtUp, [1, 2, 3, 4, 5, 6, 7]);
  });

  it('emitMany stores a batch in one request with consecutive seqs, in the given order', async () => {
    const session = await t.createSession(user);
    await emitter.emit(session, thinking(0));
    const counter = countingFetch();
    const batching = emitterFor(t, { fetch: counter.fetch });

    const records = await batching.emitMany(session, SIX);

    assert.equal(counter.count, 1);
    assert.deepEqual(records.map((r) => r.seq), [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(records.map((r) => r.event_type), SIX.map((e) => e.type));
    assert.deepEqual(records.map((r) => r.payload), SIX.map((e) => e.data));
    assert.equal((await storedRows(t.sql, session)).length, 7);
  });

  it('emitMany refuses the whole batch when one event is bad, naming its index and field; nothing is sent', async () => {
    const session = await t.createSession(user);
    const counter = countingFetch();
    const batching = emitterFor(t, { fetch: counter.fetch });
    const batch = [thinking(1), thinking(2), { type: 'thinking', data: { iteration: 'three', toolsUsed: [] } }, thinking(4)];

    await assert.rejects(batching.emitMany(session, batch as SessionEvent[]), (err: unknown) => {
      assert.ok(err instanceof EventValidationError);
      assert.equal(err.code, 'invalid_event');
      assert.equal(err.status, 400);
      assert.match(err.message, /^events\[2\]: .*data\.iteration/);
      assert.deepEqual(err.issues.map((i) => i.field), ['events.2.data.iteration']);
      return true;
    });
    assert.equal(counter.count, 0);
    assert.deepEqual(await storedRows(t.sql, session), []);
  });

  it('emitMany of no events sends nothing', async () => {
    const counter = countingFetch();
    assert.deepEqual(await emitterFor(t, { fetch: counter.fetch }).emitMany(await t.createSession(user), []), []);
    assert.equal(counter.count, 0);
  });

  it(`emitMany refuses more than MAX_EVENTS_PER_BATCH (${MAX_EVENTS_PER_BATCH}) events with a 413-style error`, async () => {
    const session = await t.createSession(user);
    const tooMany = Array.from({ length: MAX_EVENTS_PER_BATCH + 1 }, (_, i) => thinking(i));
    await assert.rejects(emitter.emitMany(session, tooMany), { name: 'EventValidationError', code: 'payload_too_large', status: 413 });
    assert.deepEqual(await storedRows(t.sql, session), []);
  });

  it(`emitMany stores a full batch of ${MAX_EVENTS_PER_BATCH} in one go`, async () => {
    const session = await t.createSession(user);
    const records = await emitter.emitMany(session, Array.from({ length: MAX_EVENTS_PER_BATCH }, (_, i) => thinking(i)));
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: MAX_EVENTS_PER_BATCH }, (_, i) => i + 1));
    assert.deepEqual(records.map((r) => (r.payload as { iteration: number }).iteration), Array.from({ length: MAX_EVENTS_PER_BATCH }, (_, i) => i));
  });
});
