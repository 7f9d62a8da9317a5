// Bad input gets a clear error naming the field, and nothing is stored or half-stored.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MAX_EVENT_PAYLOAD_BYTES } from '@mobvibe/events';
import { startTestServer, type TestServer } from '@mobvibe/testkit';

let t: TestServer;
let sessionId: string;

before(async () => {
  t = await startTestServer({ limits: { maxRequestBodyBytes: 2 * 1024 * 1024 } });
  sessionId = await t.createSession(randomUUID());
});
after(() => t?.close());

const stored = async () =>
  (await t.sql.query('select count(*)::int as n from public.session_events where session_id = $1', [sessionId])).rows[0].n as number;

const insert = (rows: unknown) => t.serviceClient().from('session_events').insert(rows as never);

describe('event validation at the REST boundary', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['wrong field type', { event_type: 'thinking', payload: { iteration: 'one', toolsUsed: [] } }, /payload\.iteration: .*expected number/],
    ['missing field', { event_type: 'file_change', payload: { path: 'a.ts' } }, /payload\.action: /],
    ['bad enum', { event_type: 'file_change', payload: { path: 'a.ts', action: 'rename' } }, /payload\.action: .*"write"/],
    ['extra field', { event_type: 'completion', payload: { message: 'x', extra: 1 } }, /payload: .*extra/],
    ['unknown type', { event_type: 'telepathy', payload: {} }, /event_type: expected one of thinking, file_change/],
    ['payload not an object', { event_type: 'completion', payload: 'done' }, /payload: .*expected object/],
    ['non-http url', { event_type: 'preview_ready', payload: { url: 'javascript:alert(1)', qrCode: '' } }, /payload\.url: expected an http or https URL/],
    ['array element type', { event_type: 'thinking', payload: { iteration: 1, toolsUsed: [1] } }, /payload\.toolsUsed\.0: /],
  ];
  for (const [name, row, message] of cases) {
    it(`refuses ${name} with a 400 that names the field, storing nothing`, async () => {
      const before = await stored();
      const { error, status } = await insert({ session_id: sessionId, ...row });
      assert.equal(status, 400);
      assert.equal(error!.code, 'invalid_event');
      assert.match(error!.message, message);
      assert.equal(await stored(), before);
    });
  }

  it('refuses a whole batch when one row is bad, naming the row', async () => {
    const before = await stored();
    const good = { session_id: sessionId, event_type: 'completion', payload: { message: 'ok' } };
    const { error, status } = await insert([good, good, { ...good, payload: { message: 3 } }]);
    assert.equal(status, 400);
    assert.match(error!.message, /^row 2: invalid event: payload\.message/);
    assert.equal(await stored(), before);
  });

  it(`refuses a payload over ${MAX_EVENT_PAYLOAD_BYTES} bytes with 413 payload_too_large`, async () => {
    const before = await stored();
    const output = 'x'.repeat(MAX_EVENT_PAYLOAD_BYTES);
    const { error, status } = await insert({ session_id: sessionId, event_type: 'terminal', payload: { command: 'cat big', output } });
    assert.equal(status, 413);
    assert.equal(error!.code, 'payload_too_large');
    assert.match(error!.message, /limit is 262144 bytes/);
    assert.equal(await stored(), before);
  });

  it('accepts a payload right at the limit', async () => {
    const overhead = JSON.stringify({ command: 'c', output: '' }).length;
    const output = 'y'.repeat(MAX_EVENT_PAYLOAD_BYTES - overhead);
    const { error, status } = await insert({ session_id: sessionId, event_type: 'terminal', payload: { command: 'c', output } });
    assert.equal(error, null);
    assert.equal(status, 201);
  });

  it('refuses a request body over the server limit with 413 before reading it all', async () => {
    const res = await fetch(`${t.url}/rest/v1/session_events`, {
      method: 'POST',
      headers: { apikey: t.serviceRoleKey, 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 12 }, () => ({ session_id: sessionId, event_type: 'terminal', payload: { command: 'c', output: 'z'.repeat(200_000) } }))),
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, 'payload_too_large');
  });

  it('malformed JSON is a 400 PGRST102', async () => {
    const res = await fetch(`${t.url}/rest/v1/session_events`, {
      method: 'POST',
      headers: { apikey: t.serviceRoleKey, 'content-type': 'application/json' },
      body: '{"session_id": ',
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'PGRST102');
  });

  it('an update must keep event_type and payload a valid pair', async () => {
    const { data } = await insert({ session_id: sessionId, event_type: 'completion', payload: { message: 'ok' } }).select('id').single();
    const db = t.serviceClient();
    const half = await db.from('session_events').update({ payload: { iteration: 1, toolsUsed: [] } }).eq('id', (data as { id: string }).id);
    assert.equal(half.status, 400);
    const bad = await db.from('session_events').update({ event_type: 'thinking', payload: { message: 'ok' } }).eq('id', (data as { id: string }).id);
    assert.equal(bad.status, 400);
    assert.match(bad.error!.message, /payload\.iteration/);
  });

  it('plain SQL cannot store a malformed event either (database constraints back the API)', async () => {
    await assert.rejects(
      t.sql.query(`insert into public.session_events (session_id, seq, event_type, payload) values ($1, 0, 'telepathy', '{}')`, [sessionId]),
      /session_events_event_type_check/,
    );
    await assert.rejects(
      t.sql.query(`insert into public.session_events (session_id, seq, event_type, payload) values ($1, 0, 'completion', '"x"')`, [sessionId]),
      /session_events_payload_check/,
    );
  });

  it('seq and session_id of a stored event cannot change', async () => {
    await assert.rejects(t.sql.query('update public.session_events set seq = seq + 100 where session_id = $1', [sessionId]), /cannot change/);
  });
});

describe('values reach PostgreSQL verbatim (quotes, backslashes, SQL text), and a failed query leaves nothing behind', () => {
  const tricky = `O'Brien \\ "quoted" \\' ; drop table public.sessions; -- $1::text {a,b} E'x'`;

  it('stores and finds a value full of quotes, backslashes and SQL, with eq and in filters', async () => {
    const id = randomUUID();
    const client = t.serviceClient();
    const { error } = await client.from('sessions').insert({ id, user_id: randomUUID(), title: tricky, status: 'running' });
    assert.equal(error, null);
    const byEq = await client.from('sessions').select('id,title').eq('title', tricky);
    assert.deepEqual(byEq.data, [{ id, title: tricky }]);
    // supabase-js does not escape quotes inside in.(...) values; PostgREST's syntax does: "a\"b".
    const list = [tricky, 'a"b\\c', 'x,y'].map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',');
    const res = await fetch(`${t.url}/rest/v1/sessions?select=id,title&id=eq.${id}&title=in.(${encodeURIComponent(list)})`, {
      headers: { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ id, title: tricky }]);
    const stored = await t.sql.query('select title from public.sessions where id = $1', [id]);
    assert.equal(stored.rows[0].title, tricky);
  });

  it('a NUL character in a filter value is refused cleanly and the server keeps answering', async () => {
    const client = t.serviceClient();
    const { error, status } = await client.from('sessions').select('id').eq('title', 'a\u0000b');
    assert.equal(status, 400);
    assert.match(error!.message, /0x00|null character|invalid byte sequence/i);
    const next = await client.from('sessions').select('id').eq('id', sessionId);
    assert.equal(next.error, null);
    assert.equal(next.data!.length, 1);
  });

  it('failing queries roll back and return their connection: more failures than the pool has connections, then success', async () => {
    const client = t.serviceClient();
    const failures = await Promise.all(Array.from({ length: 50 }, () => client.from('sessions').select('id').eq('id', 'not-a-uuid')));
    for (const f of failures) {
      assert.equal(f.status, 400);
      assert.match(f.error!.message, /invalid input syntax for type uuid/);
    }
    const before = await stored();
    const { error } = await insert({ session_id: sessionId, event_type: 'completion', payload: { message: 'after failures' } });
    assert.equal(error, null);
    assert.equal(await stored(), before + 1);
    // This test's database only: test files run side by side on one PostgreSQL, and some hold transactions open.
    const open = await t.sql.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`);
    assert.equal(open.rows[0].n, 0);
  });
});
