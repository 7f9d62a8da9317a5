import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import {
  EmitError,
  EmitterConfigError,
  EventEmitter,
  EventValidationError,
  MAX_EVENT_PAYLOAD_BYTES,
  type SessionEvent,
} from '@mobvibe/worker';
import { countingFetch, emitterFor, recordingSleep, silent, storedRows } from './support/helpers.js';

describe('EventEmitter: refusing bad input', () => {
  let t: TestServer;
  const user = randomUUID();

  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  /** Emits `event` through a counting fetch; asserts it fails as `expected`, sent nothing and stored nothing. */
  async function refused(event: unknown, expected: { code: string; status: number; field?: string; message?: RegExp }) {
    const session = await t.createSession(user);
    const counter = countingFetch();
    const emitter = emitterFor(t, { fetch: counter.fetch });
    await assert.rejects(emitter.emit(session, event as SessionEvent), (err: unknown) => {
      assert.ok(err instanceof EventValidationError, `expected EventValidationError, got ${String(err)}`);
      assert.equal(err.code, expected.code);
      assert.equal(err.status, expected.status);
      if (expected.field) assert.ok(err.issues.some((i) => i.field === expected.field), JSON.stringify(err.issues));
      if (expected.message) assert.match(err.message, expected.message);
      return true;
    });
    assert.equal(counter.count, 0, 'no request was made');
    assert.deepEqual(await storedRows(t.sql, session), [], 'nothing was stored');
  }

  it('refuses a field of the wrong type', () =>
    refused({ type: 'thinking', data: { iteration: 1, toolsUsed: 'bash' } }, { code: 'invalid_event', status: 400, field: 'data.toolsUsed' }));

  it('refuses an unknown event type, listing the known ones', () =>
    refused({ type: 'telepathy', data: { message: 'hi' } }, { code: 'invalid_event', status: 400, message: /thinking, file_change, terminal/ }));

  it('refuses an extra field', () =>
    refused({ type: 'completion', data: { message: 'done', mood: 'great' } }, { code: 'invalid_event', status: 400, message: /mood/ }));

  it('refuses a missing field', () =>
    refused({ type: 'file_change', data: { path: 'a.ts' } }, { code: 'invalid_event', status: 400, field: 'data.action' }));

  it(`refuses data over MAX_EVENT_PAYLOAD_BYTES (${MAX_EVENT_PAYLOAD_BYTES}) with a 413-style error`, () =>
    refused(
      { type: 'terminal', data: { command: 'cat big.log', output: 'x'.repeat(MAX_EVENT_PAYLOAD_BYTES + 1) } },
      { code: 'payload_too_large', status: 413, field: 'data', message: /limit is 262144 bytes/ },
    ));

  it('accepts data right at the size limit', async () => {
    const session = await t.createSession(user);
    const overhead = JSON.stringify({ command: '', output: '' }).length;
    const output = 'x'.repeat(MAX_EVENT_PAYLOAD_BYTES - overhead);
    const record = await emitterFor(t).emit(session, { type: 'terminal', data: { command: '', output } });
    assert.equal(record.seq, 1);
    assert.equal((record.payload as { output: string }).output.length, output.length);
  });

  it('measures the limit in UTF-8 bytes, not characters', async () => {
    const overhead = JSON.stringify({ command: '', output: '' }).length;
    const fits = 'é'.repeat((MAX_EVENT_PAYLOAD_BYTES - overhead) / 2); // 2 bytes each: exactly at the limit
    const record = await emitterFor(t).emit(await t.createSession(user), { type: 'terminal', data: { command: '', output: fits } });
    assert.equal((record.payload as { output: string }).output, fits);
    await refused(
      { type: 'terminal', data: { command: '', output: `${fits}é` } },
      { code: 'payload_too_large', status: 413, field: 'data', message: new RegExp(`data is ${MAX_EVENT_PAYLOAD_BYTES + 2} bytes`) },
    );
  });

  it('emitting to a missing session fails at once with session_not_found (409), not retried', async () => {
    const { sleep, delays } = recordingSleep();
    const counter = countingFetch();
    const missing = randomUUID();
    const emitter = emitterFor(t, { sleep, fetch: counter.fetch });

    await assert.rejects(emitter.emit(missing, { type: 'completion', data: { message: 'x' } }), (err: unknown) => {
      assert.ok(err instanceof EmitError);
      assert.equal(err.code, 'session_not_found');
      assert.equal(err.status, 409);
      assert.equal(err.serverCode, '23503');
      assert.equal(err.transient, false);
      assert.equal(err.attempts, 1);
      assert.match(err.message, new RegExp(`session ${missing} does not exist`));
      return true;
    });
    assert.equal(counter.count, 1);
    assert.deepEqual(delays, []);
    const { rows } = await t.sql.query('select count(*)::int as n from public.session_events where session_id = $1', [missing]);
    assert.equal(rows[0].n, 0);
  });

  it('a key the server does not accept fails at once with unauthorized (401)', async () => {
    const { sleep, delays } = recordingSleep();
    const emitter = new EventEmitter({ supabaseUrl: t.url, serviceRoleKey: 'not-a-jwt', logger: silent, sleep });
    const session = await t.createSession(user);
    await assert.rejects(emitter.emit(session, { type: 'completion', data: { message: 'x' } }), { name: 'EmitError', code: 'unauthorized', status: 401, transient: false });
    assert.deepEqual(delays, []);
    assert.deepEqual(await storedRows(t.sql, session), []);
  });

  it('a sessionId that is not a UUID is refused before any request', async () => {
    const counter = countingFetch();
    const emitter = emitterFor(t, { fetch: counter.fetch });
    await assert.rejects(emitter.emit('test-session', { type: 'completion', data: { message: 'x' } }), {
      name: 'EmitError',
      code: 'invalid_argument',
      message: /sessionId must be a session's UUID, got "test-session"/,
    });
    await assert.rejects(emitter.getHistory('test-session'), { code: 'invalid_argument' });
    await assert.rejects(emitter.getHistory(randomUUID(), 0), { code: 'invalid_argument', message: /limit must be an integer >= 1/ });
    await assert.rejects(emitter.getHistoryAfter(randomUUID(), -1), { code: 'invalid_argument', message: /afterSeq/ });
    assert.equal(counter.count, 0);
  });

  it('without SUPABASE_URL or SUPABASE_SERVICE_ROLE_KEY, the constructor names the missing variable', () => {
    assert.throws(() => new EventEmitter({ env: {}, logger: silent }), (err: unknown) => {
      assert.ok(err instanceof EmitterConfigError);
      assert.equal(err.code, 'config_error');
      assert.equal(err.variable, 'SUPABASE_URL');
      assert.match(err.message, /SUPABASE_URL is not set.*supabaseUrl/);
      return true;
    });
    assert.throws(() => new EventEmitter({ env: { SUPABASE_URL: t.url }, logger: silent }), {
      name: 'EmitterConfigError',
      variable: 'SUPABASE_SERVICE_ROLE_KEY',
      message: /SUPABASE_SERVICE_ROLE_KEY is not set/,
    });
    assert.throws(() => new EventEmitter({ supabaseUrl: t.url, env: {}, logger: silent }), { variable: 'SUPABASE_SERVICE_ROLE_KEY' });
  });

  it('reads SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY from the environment', async () => {
    const emitter = new EventEmitter({ env: { SUPABASE_URL: t.url, SUPABASE_SERVICE_ROLE_KEY: t.serviceRoleKey }, logger: silent });
    const record = await emitter.emit(await t.createSession(user), { type: 'completion', data: { message: 'from env' } });
    assert.equal(record.seq, 1);
  });

  it('works with an existing supabase-js client', async () => {
    const emitter = new EventEmitter({ supabase: t.serviceClient(), logger: silent });
    const session = await t.createSession(user);
    const record = await emitter.emit(session, { type: 'completion', data: { message: 'injected client' } });
    assert.equal(record.seq, 1);
    assert.deepEqual((await emitter.getHistory(session)).map((r) => r.id), [record.id]);
  });
});
