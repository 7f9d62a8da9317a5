// REST compatibility, judged by the official supabase-js client: the queries hosted-Supabase code sends.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';

let t: TestServer;
const alice = randomUUID();

before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

const thinking = (i: number) => ({ event_type: 'thinking', payload: { iteration: i, toolsUsed: ['bash'] } });

describe('supabase-js against /rest/v1', () => {
  it('insert(...).select().single() returns the stored row with database-assigned seq and typed columns', async () => {
    const sessionId = await t.createSession(alice);
    const { data, error, status } = await t.serviceClient().from('session_events')
      .insert({ session_id: sessionId, ...thinking(1) }).select().single();
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.equal(data.seq, 1);
    assert.equal(typeof data.seq, 'number');
    assert.deepEqual(data.payload, { iteration: 1, toolsUsed: ['bash'] });
    assert.match(data.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(data.created_at)));
  });

  it("select('*').eq('session_id', id).order('created_at', {ascending:false}).limit(100) — the original plan's history query", async () => {
    const sessionId = await t.createSession(alice);
    const rows = Array.from({ length: 5 }, (_, i) => ({ session_id: sessionId, ...thinking(i) }));
    const ins = await t.serviceClient().from('session_events').insert(rows);
    assert.equal(ins.error, null);
    const { data, error } = await t.serviceClient().from('session_events')
      .select('*').eq('session_id', sessionId).order('created_at', { ascending: false }).order('seq', { ascending: false }).limit(100);
    assert.equal(error, null);
    assert.deepEqual(data!.map((r) => r.seq), [5, 4, 3, 2, 1]);
  });

  it('supports column lists, every filter operator, order, limit and offset', async () => {
    const sessionId = await t.createSession(alice);
    const db = t.serviceClient();
    await db.from('session_events').insert(Array.from({ length: 10 }, (_, i) => ({ session_id: sessionId, ...thinking(i) })));
    const q = () => db.from('session_events').select('seq,event_type').eq('session_id', sessionId);
    const seqs = async (p: PromiseLike<{ data: { seq: number }[] | null; error: unknown }>) => {
      const { data, error } = await p;
      assert.equal(error, null);
      return data!.map((r) => r.seq);
    };
    assert.deepEqual(await seqs(q().gt('seq', 7).order('seq')), [8, 9, 10]);
    assert.deepEqual(await seqs(q().gte('seq', 9).order('seq')), [9, 10]);
    assert.deepEqual(await seqs(q().lt('seq', 3).order('seq')), [1, 2]);
    assert.deepEqual(await seqs(q().lte('seq', 2).order('seq', { ascending: false })), [2, 1]);
    assert.deepEqual(await seqs(q().neq('seq', 1).lte('seq', 3).order('seq')), [2, 3]);
    assert.deepEqual(await seqs(q().in('seq', [2, 4, 6]).order('seq')), [2, 4, 6]);
    assert.deepEqual(await seqs(q().not('seq', 'in', '(1,2,3,4,5,6,7)').order('seq')), [8, 9, 10]);
    assert.deepEqual(await seqs(q().order('seq').range(3, 5)), [4, 5, 6]);
    assert.deepEqual(await seqs(q().order('seq').limit(2)), [1, 2]);
    const { data } = await db.from('session_events').select('seq, event_type').eq('session_id', sessionId).eq('seq', 1).single();
    assert.deepEqual(data, { seq: 1, event_type: 'thinking' });
    const isNull = await db.from('sessions').select('id').eq('id', sessionId).is('title', null);
    assert.deepEqual(isNull.data, []);
  });

  it('HEAD with count=exact answers the total in Content-Range and no rows', async () => {
    const sessionId = await t.createSession(alice);
    await t.serviceClient().from('session_events').insert(Array.from({ length: 7 }, (_, i) => ({ session_id: sessionId, ...thinking(i) })));
    const { count, data, error } = await t.serviceClient().from('session_events')
      .select('*', { count: 'exact', head: true }).eq('session_id', sessionId);
    assert.equal(error, null);
    assert.equal(count, 7);
    assert.equal(data, null);
    const raw = await fetch(`${t.url}/rest/v1/session_events?session_id=eq.${sessionId}&limit=2&offset=1`, {
      headers: { apikey: t.serviceRoleKey, prefer: 'count=exact' },
    });
    assert.equal(raw.headers.get('content-range'), '1-2/7');
  });

  it('upsert with on_conflict=id and ignore-duplicates stores a retried event once and consumes no seq', async () => {
    const sessionId = await t.createSession(alice);
    const row = { id: randomUUID(), session_id: sessionId, ...thinking(1) };
    const db = t.serviceClient();
    const first = await db.from('session_events').upsert(row, { onConflict: 'id', ignoreDuplicates: true }).select();
    const again = await db.from('session_events').upsert(row, { onConflict: 'id', ignoreDuplicates: true }).select();
    assert.equal(first.data!.length, 1);
    assert.deepEqual(again.data, []);
    const next = await db.from('session_events').insert({ session_id: sessionId, ...thinking(2) }).select('seq').single();
    assert.equal(next.data!.seq, 2, 'the ignored duplicate must not leave a gap');
    const plain = await db.from('session_events').insert(row);
    assert.equal(plain.status, 409);
    assert.equal(plain.error!.code, '23505');
  });

  it('inserts arrays whose objects have different keys: missing=default uses column defaults, else null (as PostgREST)', async () => {
    const sessionId = await t.createSession(alice);
    const rows = [
      { session_id: sessionId, ...thinking(1) },
      { session_id: sessionId, event_type: 'completion', payload: { message: 'done' }, id: randomUUID() },
    ];
    const db = t.serviceClient();
    const asNull = await db.from('session_events').insert(rows);
    assert.equal(asNull.status, 400);
    assert.equal(asNull.error!.code, '23502', 'the first row has no id, so it is null');
    const { error, status, data } = await db.from('session_events').insert(rows, { defaultToNull: false });
    assert.equal(error, null);
    assert.equal(status, 201, 'return=minimal answers 201');
    assert.equal(data, null);
    const stored = await db.from('session_events').select('seq').eq('session_id', sessionId).order('seq');
    assert.deepEqual(stored.data, [{ seq: 1 }, { seq: 2 }], 'the refused attempt consumed no seq');
  });

  it('PATCH and DELETE with filters, returning the rows', async () => {
    const db = t.serviceClient();
    const sessionId = await t.createSession(alice, 'before');
    const upd = await db.from('sessions').update({ title: 'after', status: 'completed' }).eq('id', sessionId).select('title,status');
    assert.deepEqual(upd.data, [{ title: 'after', status: 'completed' }]);
    const del = await db.from('sessions').delete().eq('id', sessionId).select('id');
    assert.deepEqual(del.data, [{ id: sessionId }]);
    const gone = await db.from('sessions').select('id').eq('id', sessionId);
    assert.deepEqual(gone.data, []);
  });

  it('.single() with no row is a 406 PGRST116, and maybeSingle() gives null', async () => {
    const db = t.serviceClient();
    const none = await db.from('sessions').select('*').eq('id', randomUUID()).single();
    assert.equal(none.status, 406);
    assert.equal(none.error!.code, 'PGRST116');
    const maybe = await db.from('sessions').select('*').eq('id', randomUUID()).maybeSingle();
    assert.equal(maybe.error, null);
    assert.equal(maybe.data, null);
  });

  it('a PATCH that would change more than one row under .single() is rolled back', async () => {
    const db = t.serviceClient();
    const a = await t.createSession(alice, 'same');
    const b = await t.createSession(alice, 'same');
    const res = await db.from('sessions').update({ status: 'x' }).in('id', [a, b]).select().single();
    assert.equal(res.status, 406);
    const { data } = await db.from('sessions').select('status').in('id', [a, b]);
    assert.deepEqual(data!.map((r) => r.status), ['running', 'running']);
  });

  it('unsupported syntax is a 400 or 406 naming what is unsupported, never a silently wrong answer', async () => {
    const db = t.serviceClient();
    const embed = await db.from('session_events').select('*, nope(*)');
    assert.equal(embed.status, 400);
    assert.equal(embed.error!.code, 'PGRST200');
    assert.match(embed.error!.message, /Could not find a relationship between 'session_events' and 'nope'/);
    const embeddedFilter = await db.from('session_events').select('*').eq('sessions.title', 'x');
    assert.equal(embeddedFilter.status, 400);
    assert.equal(embeddedFilter.error!.code, 'PGRST108');
    const spread = await db.from('session_events').select('...sessions(title)');
    assert.equal(spread.status, 400);
    assert.match(spread.error!.message, /spread embedding/);
    const aggregate = await db.from('session_events').select('seq.sum()');
    assert.equal(aggregate.status, 400);
    assert.match(aggregate.error!.message, /aggregate/);
    const explain = await db.from('sessions').select('*').explain();
    assert.equal(explain.status, 406);
    const geo = await db.from('sessions').select('*').geojson();
    assert.equal(geo.status, 406);
    assert.equal(geo.error!.code, 'PGRST107');
    const params = await fetch(`${t.url}/rest/v1/sessions?select=id`, { headers: { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, prefer: 'timezone=Asia/Tokyo' } });
    assert.equal(params.status, 400, 'PostgREST would render timestamps in that zone: refused, not ignored');
    assert.equal(((await params.json()) as { code: string }).code, 'PGRST122');
    const strict = await fetch(`${t.url}/rest/v1/sessions?select=id`, { headers: { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, prefer: 'handling=strict, frobnicate=yes' } });
    assert.equal(strict.status, 400);
    assert.match(((await strict.json()) as { message: string }).message, /handling=strict: frobnicate=yes/);
  });

  it('unknown tables are 404 PGRST205, unknown columns 400 42703, malformed values 400 22P02', async () => {
    const db = t.serviceClient();
    const table = await db.from('nope').select('*');
    assert.equal(table.status, 404);
    assert.equal(table.error!.code, 'PGRST205');
    const col = await db.from('sessions').select('nope');
    assert.equal(col.status, 400);
    assert.equal(col.error!.code, '42703');
    assert.match(col.error!.hint!, /user_id/);
    const uuid = await db.from('sessions').select('*').eq('id', 'not-a-uuid');
    assert.equal(uuid.status, 400);
    assert.equal(uuid.error!.code, '22P02');
  });

  it('a foreign key violation (event for a missing session) is a 409 with the database message', async () => {
    const res = await t.serviceClient().from('session_events').insert({ session_id: randomUUID(), ...thinking(1) });
    assert.equal(res.status, 409);
    assert.equal(res.error!.code, '23503');
    assert.match(res.error!.message, /does not exist/);
  });
});
