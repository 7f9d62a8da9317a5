// Authorization stays true over time: a channel pinned to a session ends when that session is deleted or changes
// owner (system error, then phx_error, so the client rejoins and is checked anew), a join whose check was in
// flight meanwhile is refused or ended, and a session id re-created by another user never inherits the old
// subscription. service_role channels are never revoked. Every "nothing arrived" is asserted only after a
// sentinel committed later has arrived on the same socket.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { RawClient, settled, sleep, socketUrl, subscribe, waitFor, type Frame } from './realtime-helpers.js';

let t: TestServer;
let service: SupabaseClient;
const alice = randomUUID();
const bob = randomUUID();
const opened: RawClient[] = [];

before(async () => {
  t = await startTestServer();
  service = t.serviceClient();
});
after(async () => {
  for (const c of opened) c.close();
  await t?.close();
});

type TextFrame = Extract<Frame, { event: string }>;

const events = (filter: string, event = '*') => ({ event, schema: 'public', table: 'session_events', filter });
const sessions = (filter: string, event = '*') => ({ event, schema: 'public', table: 'sessions', filter });

async function raw(key = t.anonKey, vsn: '1.0.0' | '2.0.0' = '2.0.0'): Promise<RawClient> {
  const c = await RawClient.open(socketUrl(t, key, vsn));
  opened.push(c);
  return c;
}

/** Inserts one event as the worker would (plain SQL, seq from the trigger); `n` marks it. */
async function emit(sessionId: string, n: number): Promise<void> {
  await t.sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'thinking', $2)`, [
    sessionId,
    JSON.stringify({ iteration: n, toolsUsed: [] }),
  ]);
}

const textFrames = (c: RawClient, topic: string) => c.frames.filter((f): f is TextFrame => 'event' in f && f.topic === topic);
const changes = (c: RawClient, topic: string) => textFrames(c, topic).filter((f) => f.event === 'postgres_changes');
const iterationOf = (f: TextFrame) => f.payload.data.record?.payload?.iteration;
/** `table:TYPE` of each change; a session's own INSERT committed just before the join may arrive just after it (extra, never missing). */
const kinds = (frames: TextFrame[]) =>
  frames.map((f) => `${f.payload.data.table}:${f.payload.data.type}`).filter((k, i) => !(i === 0 && k === 'sessions:INSERT'));

/** Joins `topic` with Alice's (or `token`'s) token and the given bindings; asserts the ok reply. */
async function joinOk(c: RawClient, topic: string, bindings: object[], token = t.tokenFor(alice)): Promise<string> {
  const { joinRef, reply } = await c.join(topic, { config: { postgres_changes: bindings }, access_token: token });
  assert.equal(reply.status, 'ok', JSON.stringify(reply));
  await c.next((f) => f.topic === topic && f.event === 'system' && f.payload.message === 'Subscribed to PostgreSQL');
  return joinRef;
}

/** A sentinel: an event in `sessionId` (subscribed on `topic` of `c`) committed now must arrive. */
async function sentinel(c: RawClient, topic: string, sessionId: string, n: number): Promise<void> {
  await emit(sessionId, n);
  await c.next((f) => f.topic === topic && f.event === 'postgres_changes' && iterationOf(f) === n, 8_000);
}

const accessChanged = (id: string) => `AccessChanged: session ${id} was deleted or changed owner; rejoin to check access again`;
const cannotRead = (id: string) =>
  `Unauthorized: you cannot read session ${id} (no such session, or not yours); subscribe only to sessions your token can read`;

/** The exact end of a revoked channel: system error (postgres_changes extension), then phx_error with ref = join_ref. */
async function assertRevoked(c: RawClient, topic: string, joinRef: string, sessionId: string): Promise<{ system: TextFrame; error: TextFrame }> {
  const error = await c.next((f) => f.topic === topic && f.event === 'phx_error', 8_000);
  const system = textFrames(c, topic).find((f) => f.event === 'system' && f.payload.status === 'error');
  assert.ok(system, 'a system error before phx_error');
  assert.deepEqual(
    { joinRef: system.joinRef, ref: system.ref, topic: system.topic, payload: system.payload },
    { joinRef, ref: null, topic, payload: { extension: 'postgres_changes', status: 'error', message: accessChanged(sessionId), channel: topic.slice('realtime:'.length) } },
  );
  assert.deepEqual(
    { joinRef: error.joinRef, ref: error.ref, topic: error.topic, payload: error.payload },
    { joinRef, ref: joinRef, topic, payload: { reason: accessChanged(sessionId) } },
  );
  assert.ok(c.frames.indexOf(system) < c.frames.indexOf(error), 'system comes first');
  return { system, error };
}

describe('a deleted session ends its channels; its id re-created by another user sends them nothing', () => {
  it('supabase-js: deleted by its owner over REST → system error and CHANNEL_ERROR (AccessChanged), rejoin refused, none of Bob\'s events', async () => {
    const x = await t.createSession(alice, 'x');
    const y = await t.createSession(alice, 'y');
    const client = await settled(t.userClient(alice));
    const gotX: any[] = [];
    const gotY: any[] = [];
    const system: any[] = [];
    const statuses: Array<{ status: string; message?: string; reason?: string }> = [];
    const chX = client
      .channel(`session:${x}`)
      .on('system', {}, (p) => system.push(p))
      .on('postgres_changes', events(`session_id=eq.${x}`, 'INSERT') as never, (p) => gotX.push(p));
    chX.subscribe((status, err) => statuses.push({ status, message: err?.message, reason: (err?.cause as any)?.reason }));
    await waitFor(() => statuses.some((s) => s.status === 'SUBSCRIBED'), 'SUBSCRIBED on X');
    const chY = client.channel(`session:${y}`).on('postgres_changes', events(`session_id=eq.${y}`, 'INSERT') as never, (p) => gotY.push(p));
    await subscribe(chY);

    await emit(x, 1);
    await waitFor(() => gotX.length === 1, "Alice's own event");

    const del = await client.from('sessions').delete().eq('id', x).select();
    assert.ifError(del.error);
    assert.equal(del.data?.length, 1);
    await waitFor(() => system.some((s) => s.status === 'error'), 'the system error');
    const err = system.find((s) => s.status === 'error');
    assert.equal(err.extension, 'postgres_changes');
    assert.equal(err.message, accessChanged(x));
    await waitFor(() => statuses.some((s) => s.status === 'CHANNEL_ERROR' && s.reason === accessChanged(x)), 'CHANNEL_ERROR with the AccessChanged reason');

    // Bob takes the id (users choose sessions.id) and his agent writes to it.
    const bobClient = await settled(t.userClient(bob));
    const created = await bobClient.from('sessions').insert({ id: x, user_id: bob, title: "bob's", status: 'running' });
    assert.ifError(created.error);
    for (let i = 100; i < 103; i++) await emit(x, i);
    await emit(y, 1); // the sentinel, committed after Bob's events
    await waitFor(() => gotY.length === 1, 'the sentinel in Y');
    assert.deepEqual(gotX.map((p) => p.new.payload.iteration), [1], "no event of Bob's reached Alice");

    // realtime-js rejoins by itself (about 1 s later): refused, X is Bob's now.
    await waitFor(() => statuses.some((s) => s.status === 'CHANNEL_ERROR' && /^Unauthorized: you cannot read session /.test(s.message ?? '')), 'the refused rejoin', 8_000);
    await emit(x, 103);
    await emit(y, 2);
    await waitFor(() => gotY.length === 2, 'the second sentinel');
    assert.equal(gotX.length, 1);
    assert.ok(!statuses.some((s, i) => s.status === 'SUBSCRIBED' && i > 0), `never subscribed again: ${JSON.stringify(statuses)}`);
    await client.removeChannel(chX);
    await client.removeChannel(chY);
  });

  it('raw frames: deleted by service_role in SQL → the event DELETE, then system error and phx_error exactly; rejoin refused; none of Bob\'s events', async () => {
    const x = await t.createSession(alice, 'x');
    const y = await t.createSession(alice, 'y');
    const c = await raw();
    const topicX = `realtime:session:${x}`;
    const topicY = `realtime:session:${y}`;
    const bindings = [events(`session_id=eq.${x}`)];
    const joinRef = await joinOk(c, topicX, bindings);
    await joinOk(c, topicY, [events(`session_id=eq.${y}`, 'INSERT')]);
    await sentinel(c, topicX, x, 1);

    const client = await t.sql.connect();
    try {
      await client.query('begin');
      await client.query('set local role service_role');
      assert.equal((await client.query('delete from public.sessions where id = $1', [x])).rowCount, 1);
      await client.query('commit');
    } finally {
      client.release();
    }
    await assertRevoked(c, topicX, joinRef, x);
    // Before the end: the INSERT, then the DELETE of that event (the session's events go with it).
    const before = changes(c, topicX).map((f) => [f.payload.data.type, f.payload.data.record?.payload?.iteration ?? f.payload.data.old_record?.payload?.iteration]);
    assert.deepEqual(before, [['INSERT', 1], ['DELETE', 1]]);

    const bobClient = await settled(t.userClient(bob));
    assert.ifError((await bobClient.from('sessions').insert({ id: x, user_id: bob, title: "bob's", status: 'running' })).error);
    for (let i = 100; i < 103; i++) await emit(x, i);
    await sentinel(c, topicY, y, 1);
    assert.equal(changes(c, topicX).length, 2, 'nothing after the end');
    assert.equal(textFrames(c, topicX).at(-1)!.event, 'phx_error', 'no frame at all on X after phx_error');

    const again = await c.join(topicX, { config: { postgres_changes: bindings }, access_token: t.tokenFor(alice) });
    assert.deepEqual(again.reply, { status: 'error', response: { reason: cannotRead(x) } });
    await emit(x, 103);
    await sentinel(c, topicY, y, 2);
    assert.equal(changes(c, topicX).length, 2);
  });

  it('delete and re-creation by Bob in one transaction: Alice is ended at the DELETE and gets neither Bob\'s session row nor his event', async () => {
    const x = await t.createSession(alice, 'x');
    const y = await t.createSession(alice, 'y');
    const c = await raw();
    const topicX = `realtime:session:${x}`;
    const topicY = `realtime:session:${y}`;
    const joinRef = await joinOk(c, topicX, [events(`session_id=eq.${x}`), sessions(`id=eq.${x}`)]);
    await joinOk(c, topicY, [events(`session_id=eq.${y}`, 'INSERT')]);
    await sentinel(c, topicX, x, 1);

    await t.sql.query(
      `begin;
       delete from public.sessions where id = '${x}';
       insert into public.sessions (id, user_id, title, status) values ('${x}', '${bob}', 'bob''s', 'running');
       insert into public.session_events (session_id, event_type, payload) values ('${x}', 'thinking', '{"iteration": 100, "toolsUsed": []}');
       commit;`,
    );
    await assertRevoked(c, topicX, joinRef, x);
    await sentinel(c, topicY, y, 1);
    const seen = kinds(changes(c, topicX));
    // WAL order: the session's row, then the event rows its foreign key cascades to.
    assert.deepEqual(seen, ['session_events:INSERT', 'sessions:DELETE', 'session_events:DELETE'], 'the DELETEs of X reach Alice, nothing of Bob\'s');
    assert.ok(!JSON.stringify(changes(c, topicX)).includes(bob), "Bob's id never reached Alice");
  });

  it('a sessions subscriber (id=eq.X, DELETE) receives the DELETE of X, then is ended', async () => {
    const x = await t.createSession(alice, 'x');
    const c = await raw();
    const topic = `realtime:watch:${x}`;
    const joinRef = await joinOk(c, topic, [sessions(`id=eq.${x}`, 'DELETE')]);
    await t.sql.query('delete from public.sessions where id = $1', [x]);
    const { system } = await assertRevoked(c, topic, joinRef, x);
    const del = changes(c, topic);
    assert.equal(del.length, 1);
    assert.equal(del[0]!.payload.data.type, 'DELETE');
    assert.equal(del[0]!.payload.data.old_record.id, x);
    assert.equal(del[0]!.payload.data.old_record.user_id, alice);
    assert.ok(c.frames.indexOf(del[0]!) < c.frames.indexOf(system), 'the DELETE comes before the end');
  });
});

describe('a session that changes owner', () => {
  it('ends the old owner\'s channel before the UPDATE reaches it; neither the UPDATE nor later events arrive', async () => {
    const x = await t.createSession(alice, 'x');
    const y = await t.createSession(alice, 'y');
    const c = await raw();
    const topicX = `realtime:session:${x}`;
    const topicY = `realtime:session:${y}`;
    const joinRef = await joinOk(c, topicX, [events(`session_id=eq.${x}`, 'INSERT'), sessions(`id=eq.${x}`, 'UPDATE')]);
    await joinOk(c, topicY, [events(`session_id=eq.${y}`, 'INSERT')]);
    // A watcher that keeps receiving X's updates proves the UPDATE was delivered (to someone) before we look.
    const svc = await raw(t.serviceRoleKey);
    const svcTopic = `realtime:svc:${x}`;
    await joinOk(svc, svcTopic, [sessions(`id=eq.${x}`, 'UPDATE')], t.serviceRoleKey);
    await sentinel(c, topicX, x, 1);

    await t.sql.query('update public.sessions set user_id = $1 where id = $2', [bob, x]);
    await assertRevoked(c, topicX, joinRef, x);
    await svc.next((f) => f.topic === svcTopic && f.event === 'postgres_changes' && f.payload.data.record.user_id === bob);
    for (let i = 100; i < 103; i++) await emit(x, i);
    await sentinel(c, topicY, y, 1);
    assert.deepEqual(changes(c, topicX).map((f) => f.payload.data.type), ['INSERT'], 'the UPDATE to Bob never reached Alice');
    assert.ok(!JSON.stringify(changes(c, topicX)).includes(bob));
  });

  it('a session moved to Bob, written to by Bob and deleted, in one transaction: Alice is ended at the UPDATE and gets none of Bob\'s events', async () => {
    // The WAL carries the whole transaction at once; the channel must still end at the UPDATE that moved the
    // session, before the event Bob's agent wrote and the DELETE that follow it in the same transaction.
    const x = await t.createSession(alice, 'x');
    const y = await t.createSession(alice, 'y');
    const c = await raw();
    const topicX = `realtime:session:${x}`;
    const topicY = `realtime:session:${y}`;
    await joinOk(c, topicX, [events(`session_id=eq.${x}`)]);
    await joinOk(c, topicY, [events(`session_id=eq.${y}`, 'INSERT')]);
    await sentinel(c, topicX, x, 1);
    await t.sql.query(
      `begin;
       update public.sessions set user_id = '${bob}' where id = '${x}';
       insert into public.session_events (session_id, event_type, payload) values ('${x}', 'thinking', '{"iteration": 100, "toolsUsed": []}');
       delete from public.sessions where id = '${x}';
       commit;`,
    );
    await sentinel(c, topicY, y, 1);
    const got = changes(c, topicX).map(iterationOf);
    assert.deepEqual(got, [1], `Alice received Bob's event or its DELETE: ${JSON.stringify(got)}`);
    assert.ok(textFrames(c, topicX).some((f) => f.event === 'phx_error'), 'the channel was ended');
  });
});

describe('the join race', () => {
  it('a join whose check runs while the session is being deleted is refused or ended; it never receives the re-created session\'s events (20 rounds)', async () => {
    const y = await t.createSession(alice, 'y');
    const c = await raw();
    const topicY = `realtime:session:${y}`;
    await joinOk(c, topicY, [events(`session_id=eq.${y}`, 'INSERT')]);
    const outcomes: Record<string, number> = {};
    let n = 0;
    for (let round = 0; round < 20; round++) {
      const x = await t.createSession(alice, `race ${round}`);
      const topicX = `realtime:session:${x}`;
      const tx = await t.sql.connect();
      let joinRef: string;
      try {
        await tx.query('begin');
        await tx.query('delete from public.sessions where id = $1', [x]);
        // The join's check is a plain SELECT: it does not wait for the uncommitted delete, it reads X as Alice's.
        joinRef = c.nextRef();
        c.push(joinRef, joinRef, topicX, 'phx_join', { config: { postgres_changes: [events(`session_id=eq.${x}`, 'INSERT')] }, access_token: t.tokenFor(alice) });
        if (round % 4 === 1) await new Promise((r) => setImmediate(r));
        else if (round % 4 === 2) await sleep(1);
        else if (round % 4 === 3) await sleep(3);
        await tx.query('commit');
      } finally {
        tx.release();
      }
      await t.sql.query('insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, $4)', [x, bob, "bob's", 'running']);
      await emit(x, 1000 + round);
      await sentinel(c, topicY, y, ++n);
      const reply = await c.next((f) => f.topic === topicX && f.event === 'phx_reply' && f.ref === joinRef);
      let outcome: string;
      if (reply.payload.status === 'error') {
        outcome = `refused ${String(reply.payload.response.reason).split(':')[0]}`;
        assert.match(reply.payload.response.reason, /^(Unauthorized: you cannot read session|AccessChanged: session .* while this join was checked)/);
      } else {
        outcome = 'joined, then ended';
        await c.next((f) => f.topic === topicX && f.event === 'phx_error', 8_000);
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      // Whatever the outcome, nothing of Bob's arrives, now or later.
      await emit(x, 2000 + round);
      await sentinel(c, topicY, y, ++n);
      assert.equal(changes(c, topicX).length, 0, `round ${round} (${outcome}): Alice received Bob's events`);
      const after = textFrames(c, topicX).filter((f) => f.event !== 'phx_reply' && f.event !== 'system' && f.event !== 'phx_error');
      assert.deepEqual(after, [], `round ${round}: unexpected frames on X`);
    }
    // For the report: how the rounds ended.
    console.log(`join race outcomes: ${JSON.stringify(outcomes)}`);
  });
});

describe('service_role channels', () => {
  it('are not revoked by a delete or an owner change; they keep receiving the session id\'s events', async () => {
    const x = await t.createSession(alice, 'x');
    const svc = await raw(t.serviceRoleKey);
    const topic = `realtime:svc:${x}`;
    await joinOk(svc, topic, [events(`session_id=eq.${x}`, 'INSERT'), sessions(`id=eq.${x}`)], t.serviceRoleKey);
    await t.sql.query('update public.sessions set user_id = $1 where id = $2', [bob, x]);
    await t.sql.query('delete from public.sessions where id = $1', [x]);
    await t.sql.query('insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, $4)', [x, alice, 'again', 'running']);
    await sentinel(svc, topic, x, 7);
    const seen = kinds(changes(svc, topic));
    assert.deepEqual(seen, ['sessions:UPDATE', 'sessions:DELETE', 'sessions:INSERT', 'session_events:INSERT']);
    assert.equal(textFrames(svc, topic).filter((f) => f.event === 'phx_error' || f.event === 'phx_close').length, 0);
  });
});

describe('private session channels without postgres_changes bindings', () => {
  it('a re-created session id does not keep sending its broadcasts to the old owner (the read policy is stale)', async () => {
    // Alice joins her private session channel for broadcast only (no bindings, so nothing pins it by filter).
    // X is deleted and Bob re-creates it: Alice may no longer read session:X by the shipped session channel policy.
    const x = await t.createSession(alice, 'x');
    const c = await raw(t.anonKey, '1.0.0'); // JSON broadcast frames, so they can be told apart by topic
    const topic = `realtime:session:${x}`;
    const { reply } = await c.join(topic, { config: { private: true }, access_token: t.tokenFor(alice) });
    assert.equal(reply.status, 'ok', JSON.stringify(reply));
    const mark = `realtime:alice-mark-${x}`;
    assert.equal((await c.join(mark, { config: {}, access_token: t.tokenFor(alice) })).reply.status, 'ok');
    await t.sql.query('delete from public.sessions where id = $1', [x]);
    await t.sql.query('insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, $4)', [x, bob, "bob's", 'running']);
    const b = await raw(t.anonKey, '1.0.0');
    assert.equal((await b.join(topic, { config: { private: true }, access_token: t.tokenFor(bob) })).reply.status, 'ok');
    const post = (messages: object[]) =>
      fetch(`${t.url}/realtime/v1/api/broadcast`, {
        method: 'POST',
        headers: { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages }),
      });
    assert.equal((await post([{ topic: `session:${x}`, event: 'status', payload: { secret: "bob's" }, private: true }])).status, 202);
    await b.next((f) => f.topic === topic && f.event === 'broadcast');
    // Sentinel on Alice's own socket, sent after the private broadcast was fanned out (the 202 came after it).
    assert.equal((await post([{ topic: `alice-mark-${x}`, event: 'mark', payload: {} }])).status, 202);
    await c.next((f) => f.topic === mark && f.event === 'broadcast');
    const toAlice = textFrames(c, topic).filter((f) => f.event === 'broadcast');
    assert.deepEqual(toAlice.map((f) => f.payload), [], "Alice received a broadcast on Bob's session channel");
  });
});
