// Two real server processes (npm start's entry point) on one PostgreSQL: a commit made through either reaches
// subscribers on both, because each process reads the database's WAL (its own replication slot), not its own REST handler.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@mobvibe/testkit';
import { startNode, stopAll, stopNode as stop, NodeClients, type Node } from './processes.js';
import { sixEvents, sleep, subscribe, thinking, waitFor } from './realtime-helpers.js';


let db: TestDatabase;
let sql: pg.Pool;
let a: Node;
let b: Node;
const clients = new NodeClients();
const alice = randomUUID();
const userOn = (node: Node) => clients.user(node, alice);
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

async function createSession(): Promise<string> {
  const id = randomUUID();
  await sql.query('insert into public.sessions (id, user_id, title) values ($1, $2, $3)', [id, alice, 'multi']);
  return id;
}

function listen(client: SupabaseClient, id: string) {
  const received: any[] = [];
  const channel = client.channel(`session:${id}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => received.push(p));
  return { channel, received };
}

describe('two server processes on one PostgreSQL', () => {
  it('an event committed through node A reaches a subscriber on node B, and the other way round', async () => {
    const id = await createSession();
    const onA = listen(await userOn(a), id);
    const onB = listen(await userOn(b), id);
    await Promise.all([subscribe(onA.channel), subscribe(onB.channel)]);
    assert.equal((await serviceOn(a).from('session_events').insert(sixEvents(id))).error, null);
    assert.equal((await serviceOn(b).from('session_events').insert(thinking(id, 7))).error, null);
    await waitFor(() => onA.received.length === 7 && onB.received.length === 7, 'seven events on both nodes');
    await sleep(100);
    for (const got of [onA.received, onB.received]) {
      assert.deepEqual(got.map((p) => p.new.seq), [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(got.map((p) => p.new.event_type), ['thinking', 'file_change', 'terminal', 'preview_ready', 'error', 'completion', 'thinking']);
    }
  });

  it('rows written with plain SQL reach subscribers on both nodes', async () => {
    const id = await createSession();
    const onA = listen(await userOn(a), id);
    const onB = listen(await userOn(b), id);
    await Promise.all([subscribe(onA.channel), subscribe(onB.channel)]);
    await sql.query(`insert into public.session_events (session_id, event_type, payload)
                     select $1, 'completion', jsonb_build_object('message', g::text) from generate_series(1, 20) g`, [id]);
    await waitFor(() => onA.received.length === 20 && onB.received.length === 20, 'twenty events on both nodes');
  });

  it('a node keeps its subscribers live while the other node stops', async () => {
    const id = await createSession();
    const onB = listen(await userOn(b), id);
    await subscribe(onB.channel);
    await stop(a);
    await sql.query(`insert into public.session_events (session_id, event_type, payload) values ($1, 'completion', '{"message":"still here"}')`, [id]);
    await waitFor(() => onB.received.length === 1, 'the event on node B');
  });
});
