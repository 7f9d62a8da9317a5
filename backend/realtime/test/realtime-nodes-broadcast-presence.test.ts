// Broadcast and presence across server processes on one PostgreSQL (docs/backend/REALTIME.md, "Several server
// processes"): real processes (npm start's entry point), supabase-js clients on each. A client's broadcast on one
// node reaches subscribers on every node; realtime.send from SQL reaches subscribers on every node (private rows
// only private channels); presence shows one state everywhere, also to a node started later, and a node killed
// with -9 leaves the others' state within a sweep.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { createTestDatabase, TEST_JWT_SECRET, type TestDatabase } from '@mobvibe/testkit';
import { projectKeys } from '@mobvibe/realtime-server';
import { startNode as startProcess, stopAll, stopNode as kill, NodeClients, type Node } from './processes.js';
import { sleep, subscribe, waitFor } from './realtime-helpers.js';

const keys = projectKeys(TEST_JWT_SECRET);
// Sweeps (and the feed's health rounds) every 300 ms, so a gone node's presence goes within about a second.
const HEALTH_MS = 300;
const startNode = (databaseUrl: string) => startProcess(databaseUrl, { MOBVIBE_REALTIME_FEED_HEALTH_MS: String(HEALTH_MS) });

let db: TestDatabase;
let sql: pg.Pool;
let a: Node;
let b: Node;
const clients = new NodeClients();
const userOn = (node: Node) => clients.user(node);
const serviceOn = (node: Node) => clients.service(node);

before(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startNode(db.url), startNode(db.url)]);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});
after(async () => {
  await clients.closeAll();
  await sql?.end();
  await stopAll();
  await db?.drop();
});

/** Broadcasts received on a channel, in order. */
function receiving(client: SupabaseClient, topic: string, opts: { private?: boolean } = {}) {
  const got: any[] = [];
  // ack: a send resolves 'ok' only once the server took it (within the sender's budget of 50 per second).
  const channel = client.channel(topic, { config: { private: opts.private ?? false, broadcast: { self: false, ack: true } } });
  channel.on('broadcast', { event: '*' }, (m) => got.push(m));
  return { channel, got };
}

/**
 * Sends probes from `from` until `to` has one: a node relays once it knows the other is there, which it learns
 * from the other's first announcement or its next sweep. The sentinel that makes "nothing lost after this" testable.
 */
async function untilRelayed(from: RealtimeChannel, to: { got: any[] }): Promise<void> {
  for (const deadline = Date.now() + 15_000; !to.got.some((m) => m.event === 'probe'); await sleep(100)) {
    if (Date.now() > deadline) throw new Error('no probe crossed the nodes within 15 s');
    await from.send({ type: 'broadcast', event: 'probe', payload: {} });
  }
  await sleep(300); // probes still in flight
  to.got.length = 0;
}

const sequence = (got: any[], event: string) => got.filter((m) => m.event === event).map((m) => m.payload.n);

describe('broadcast and presence across two server processes on one PostgreSQL', () => {
  it("a client's broadcast on one node reaches the topic's subscribers on every node, each once and in order; REST broadcasts too", async () => {
    const topic = `room-${randomUUID()}`;
    const sender = receiving(await userOn(a), topic);
    const onA = receiving(await userOn(a), topic);
    const onB = receiving(await userOn(b), topic);
    await Promise.all([subscribe(sender.channel), subscribe(onA.channel), subscribe(onB.channel)]);
    await untilRelayed(sender.channel, onB);
    onA.got.length = 0;
    await sleep(1_000); // the probes' share of the sender's per-second budget is spent
    const N = 40;
    for (let n = 1; n <= N; n++) assert.equal(await sender.channel.send({ type: 'broadcast', event: 'n', payload: { n } }), 'ok');
    const all = Array.from({ length: N }, (_, i) => i + 1);
    await waitFor(() => sequence(onB.got, 'n').length >= N && sequence(onA.got, 'n').length >= N, 'every broadcast on both nodes', 15_000);
    // The REST endpoint on B, as a sentinel that nothing more of the first run arrives, and the other way round.
    const rest = await fetch(`${b.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: keys.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic, event: 'rest', payload: { n: 1 } }] }),
    });
    assert.equal(rest.status, 202);
    await waitFor(() => sequence(onA.got, 'rest').length === 1 && sequence(onB.got, 'rest').length === 1, 'the REST broadcast on both nodes');
    assert.deepEqual(sequence(onA.got, 'n'), all);
    assert.deepEqual(sequence(onB.got, 'n'), all);
    assert.equal(sender.got.filter((m) => m.event === 'n').length, 0, 'self: false holds across nodes');
  });

  it('realtime.send from SQL reaches subscribers on every node, with meta.id; a private message only private channels', async () => {
    const topic = `db-${randomUUID()}`;
    const publicA = receiving(await userOn(a), topic);
    const publicB = receiving(await userOn(b), topic);
    const privateB = receiving(serviceOn(b), topic, { private: true });
    await Promise.all([subscribe(publicA.channel), subscribe(publicB.channel), subscribe(privateB.channel)]);
    await sql.query(`select realtime.send(jsonb_build_object('n', 1), 'secret', $1, true)`, [topic]);
    for (let n = 1; n <= 20; n++) await sql.query(`select realtime.send(jsonb_build_object('n', $2::int), 'n', $1, false)`, [topic, n]);
    const all = Array.from({ length: 20 }, (_, i) => i + 1);
    await waitFor(() => sequence(publicA.got, 'n').length === 20 && sequence(publicB.got, 'n').length === 20, 'twenty public messages on both nodes', 15_000);
    await waitFor(() => privateB.got.length === 1, 'the private message on the private channel');
    // Same stream, commit order: the private message came before the public ones, so it would have arrived by now.
    assert.deepEqual(sequence(publicA.got, 'n'), all);
    assert.deepEqual(sequence(publicB.got, 'n'), all);
    assert.equal(publicA.got.concat(publicB.got).filter((m) => m.event === 'secret').length, 0);
    const secret = privateB.got[0]!;
    assert.equal(secret.event, 'secret');
    assert.equal(secret.payload.n, 1);
    assert.match(secret.payload.id, /^[0-9a-f-]{36}$/, 'realtime.send adds an id to a payload without one');
    assert.equal(secret.meta?.id, secret.payload.id, 'meta.id is the realtime.messages row id');
    const { rows } = await sql.query(`select count(*)::int as n from realtime.messages where topic = $1`, [topic]);
    assert.equal(rows[0].n, 21, 'the messages are kept in realtime.messages (dropped with their day partition)');
  });

  it('a realtime.send that cannot insert (here: no topic) warns WarnSendingBroadcastMessage and does not fail the calling transaction', async () => {
    const client = await sql.connect();
    try {
      await client.query('begin');
      const warnings: string[] = [];
      client.on('notice', (n) => warnings.push(n.message ?? ''));
      await client.query(`select realtime.send('{}'::jsonb, 'e', null, false)`);
      await client.query('commit');
      assert.ok(warnings.some((w) => w.startsWith('WarnSendingBroadcastMessage: ')), `warned: ${warnings.join('; ')}`);
    } finally {
      client.release();
    }
  });

  it('malformed broadcast and presence notes in the WAL are skipped; the nodes keep relaying', async () => {
    const topic = `notes-${randomUUID()}`;
    const sender = receiving(await userOn(a), topic);
    const onB = receiving(await userOn(b), topic);
    await Promise.all([subscribe(sender.channel), subscribe(onB.channel)]);
    await sql.query(`select pg_logical_emit_message(false, 'mobvibe_broadcast', 'not json'),
                            pg_logical_emit_message(false, 'mobvibe_broadcast', '{"node":"x","topic":1}'),
                            pg_logical_emit_message(true, 'mobvibe_presence', '{"node":"x","ops":[{"room":1}]}'),
                            pg_logical_emit_message(true, 'mobvibe_presence', '{"node":"x","gone":"all"}'),
                            pg_logical_emit_message(true, 'mobvibe_presence', '[]')`);
    await untilRelayed(sender.channel, onB);
    for (const node of [a, b]) assert.equal((await fetch(`${node.url}/health`)).status, 200);
  });

  it('presence shows one state on every node, also to a node started later; a node killed with -9 leaves it within a sweep', async () => {
    const topic = `presence-${randomUUID()}`;
    const channelOn = (client: SupabaseClient, key: string) => {
      const ch = client.channel(topic, { config: { presence: { key } } });
      ch.on('presence', { event: 'sync' }, () => undefined);
      return ch;
    };
    const alice = channelOn(await userOn(a), 'alice');
    const bob = channelOn(await userOn(b), 'bob');
    await Promise.all([subscribe(alice), subscribe(bob)]);
    assert.equal(await alice.track({ status: 'online' }), 'ok');
    await waitFor(() => (bob.presenceState().alice as any)?.[0]?.status === 'online', "alice (on A) in bob's state (on B)", 10_000);
    assert.equal(await bob.track({ status: 'typing' }), 'ok');
    await waitFor(() => (alice.presenceState().bob as any)?.[0]?.status === 'typing', "bob (on B) in alice's state (on A)", 10_000);
    assert.equal(await bob.track({ status: 'idle' }), 'ok');
    await waitFor(() => (alice.presenceState().bob as any)?.[0]?.status === 'idle', 'a re-track replaces the meta across nodes');
    assert.equal(alice.presenceState().bob!.length, 1);

    // A node started now gets everyone's state at its first join.
    const c = await startNode(db.url);
    const carol = channelOn(await userOn(c), 'carol');
    await subscribe(carol);
    await waitFor(() => {
      const s = carol.presenceState() as any;
      return s.alice?.[0]?.status === 'online' && s.bob?.[0]?.status === 'idle';
    }, "alice's and bob's presence on the node started later", 10_000);
    assert.equal(await carol.track({ status: 'here' }), 'ok');
    await waitFor(() => (alice.presenceState().carol as any)?.[0] && (bob.presenceState().carol as any)?.[0], 'carol on both older nodes', 10_000);

    assert.equal(await bob.untrack(), 'ok');
    await waitFor(() => !alice.presenceState().bob && !carol.presenceState().bob, "bob's untrack on every node", 10_000);

    // A node killed with -9: its connections drop, PostgreSQL drops its slot, the next sweep removes its presence.
    const killedAt = Date.now();
    await kill(a, 'SIGKILL');
    await waitFor(() => !bob.presenceState().alice && !carol.presenceState().alice, "alice gone from the others' state", 15_000);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs < 10 * HEALTH_MS + 3_000, `took ${tookMs} ms`);
    assert.ok((bob.presenceState().carol as any)?.[0], "carol's presence stays");
    const { rows } = await sql.query(`select count(*)::int as n from mobvibe.presence where room like $1`, [`%${topic}`]);
    assert.equal(rows[0].n, 1, "only carol's row is left");
  });
});
