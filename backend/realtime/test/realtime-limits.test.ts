// Limits and bad input, with raw frames: every malformed frame gets an error reply or a clean close, every limit
// answers with a clear reason, a slow reader is disconnected before its backlog grows unbounded, and none of it
// disturbs the other connections.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { DEFAULT_LIMITS } from '../src/config.js';
import { RawClient, settled, sleep, socketUrl, subscribe, waitFor } from './realtime-helpers.js';

const limits = {
  ...DEFAULT_LIMITS.realtime,
  maxFrameBytes: 64 * 1024,
  maxPayloadBytes: 60 * 1024,
  maxChannelsPerConnection: 3,
  maxJoinsPerSecond: 5,
  maxMessagesPerSecond: 20,
  maxOutgoingBufferBytes: 256 * 1024,
};
let t: TestServer;
let healthy: { received: unknown[]; room: string; close(): Promise<unknown> };

before(async () => {
  t = await startTestServer({ limits: { ...DEFAULT_LIMITS, realtime: limits } });
  // A well-behaved client that must keep working whatever the others do.
  const client = await settled(t.userClient(randomUUID()));
  const room = `healthy-${randomUUID()}`;
  const received: unknown[] = [];
  const channel = client.channel(room).on('broadcast', { event: 'ping' }, (p) => received.push(p));
  await subscribe(channel);
  healthy = { received, room, close: () => client.removeChannel(channel) };
});
after(async () => {
  await healthy?.close();
  await t?.close();
});

const open = (vsn = '2.0.0') => RawClient.open(socketUrl(t, t.anonKey, vsn));

async function expectClose(frame: unknown, code: number, reason: RegExp) {
  const c = await open();
  c.send(frame);
  const closed = await c.closed;
  assert.equal(closed.code, code, `close code for ${String(frame).slice(0, 40)}`);
  assert.match(closed.reason, reason);
}

describe('malformed frames', () => {
  it('a frame that is not a Phoenix message closes that socket cleanly (1007) with the reason', async () => {
    await expectClose('{not json', 1007, /^MalformedFrame: frame is not JSON/);
    await expectClose('[1,2,3]', 1007, /^MalformedFrame: an array frame has 5 elements/);
    await expectClose('42', 1007, /^MalformedFrame: a frame is a JSON array/);
    await expectClose(JSON.stringify([null, '1', '', 'phx_join', {}]), 1007, /topic must be a non-empty string/);
    await expectClose(JSON.stringify([null, { x: 1 }, 'realtime:a', 'phx_join', {}]), 1007, /ref must be a string/);
    await expectClose(Buffer.from([9, 1, 2, 3]), 1007, /binary frames must be broadcast pushes \(kind 3\), got kind 9/);
    await expectClose(Buffer.from([3, 5, 5, 50, 5, 0, 1, 65]), 1007, /shorter than its header/);
  });

  it('a well-formed envelope with a bad payload gets an error reply and the socket stays open', async () => {
    const c = await open();
    const cases: Array<[unknown[], RegExp]> = [
      [['1', '1', 'realtime:a', 'phx_join', 'nope'], /^MalformedFrame: the payload of "phx_join" must be a JSON object/],
      [['2', '2', 'realtime:a', 'phx_join', { config: 5 }], /^InvalidJoinPayload: payload.config must be an object/],
      [['3', '3', 'realtime:a', 'phx_join', { config: { postgres_changes: {} } }], /^InvalidJoinPayload: config.postgres_changes must be an array/],
      [['4', '4', 'realtime:a', 'phx_join', { config: { postgres_changes: [{ event: 1, schema: 'public' }] } }], /config.postgres_changes\[0\].event must be a string/],
      [['5', '5', 'realtime:a', 'phx_join', { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'sessions', select: ['id'] }] } }], /select \(column selection\) is not supported/],
      [['6', '6', 'realtime:a', 'phx_join', { config: { broadcast: { self: 'yes' } } }], /config.broadcast.self must be true or false/],
      [['7', '7', 'realtime:a', 'phx_join', { access_token: 5 }], /access_token must be a string/],
      [['8', '8', 'realtime:a', 'phx_join', { config: { postgres_changes: [{ event: 'TRUNCATE', schema: 'public', table: 'sessions' }] } }], /^InvalidPostgresChanges: event "TRUNCATE" must be one of/],
      [['9', '9', 'realtime:a', 'phx_join', { config: { postgres_changes: [{ event: '*', schema: 'auth', table: 'users' }] } }], /schema "auth" has no realtime tables/],
      [[null, '10', 'realtime:a', 'heartbeat', {}], /heartbeats go to topic "phoenix"/],
      // PostgreSQL text cannot hold a NUL: such a topic never reaches a policy check (it was an InternalError).
      [['11', '11', 'realtime:a\u0000b', 'phx_join', { config: { private: true } }], /^MalformedFrame: topic must not contain NUL/],
    ];
    for (const [frame, reason] of cases) {
      c.send(frame);
      const reply = await c.next((f) => f.ref === frame[1]);
      assert.equal(reply.payload.status, 'error');
      assert.match(reply.payload.response.reason, reason);
    }
    const { joinRef } = await c.join('realtime:ok');
    c.push(joinRef, '20', 'realtime:ok', 'broadcast', { type: 'broadcast' });
    assert.match((await c.next((f) => f.ref === '20')).payload.response.reason, /a broadcast needs \{type: "broadcast", event/);
    c.push(joinRef, '21', 'realtime:ok', 'presence', { type: 'presence', event: 'dance' });
    assert.match((await c.next((f) => f.ref === '21')).payload.response.reason, /a presence message is/);
    c.push(joinRef, '22', 'realtime:ok', 'wat', {});
    assert.match((await c.next((f) => f.ref === '22')).payload.response.reason, /^UnknownEvent: unknown event "wat"/);
    const json = Buffer.from('{nope');
    const header = Buffer.from([3, 1, 2, 10, 1, 0, 1]);
    c.send(Buffer.concat([header, Buffer.from(`${joinRef}23realtime:ok`), Buffer.from('e'), json]));
    assert.match((await c.next((f) => f.ref === '23')).payload.response.reason, /marked JSON but does not parse/);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.close();
  });

  it('a frame over maxFrameBytes closes the socket with 1009', async () => {
    const c = await open();
    c.send(JSON.stringify([null, '1', 'realtime:a', 'broadcast', { big: 'x'.repeat(70 * 1024) }]));
    const closed = await c.closed;
    assert.equal(closed.code, 1009);
  });
});

describe('limits', () => {
  it(`a connection may hold ${limits.maxChannelsPerConnection} channels; the next join is refused, rejoining a held topic is not`, async () => {
    const c = await open();
    for (let i = 0; i < 3; i++) assert.equal((await c.join(`realtime:c${i}`)).reply.status, 'ok');
    const { reply } = await c.join('realtime:c3');
    assert.match(reply.response.reason, /^ChannelRateLimitReached: this connection already has 3 channels \(limit 3\); leave one first/);
    assert.equal((await c.join('realtime:c0')).reply.status, 'ok');
    c.close();
  });

  it(`more than ${limits.maxJoinsPerSecond} joins in a second are refused`, async () => {
    const c = await open();
    const replies = [];
    for (let i = 0; i < 7; i++) replies.push((await c.join('realtime:churn')).reply);
    assert.deepEqual(replies.map((r) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok', 'error', 'error']);
    assert.match(replies[5].response.reason, /^ClientJoinRateLimitReached: more than 5 joins per second/);
    await sleep(1_100);
    assert.equal((await c.join('realtime:churn')).reply.status, 'ok');
    c.close();
  });

  it(`past ${limits.maxMessagesPerSecond} messages a second pushes are refused; past twice that the socket is closed (1008)`, async () => {
    const c = await open();
    for (let i = 0; i < 25; i++) c.push(null, String(i), 'phoenix', 'heartbeat', {});
    await c.next((f) => f.ref === '24');
    const replies = c.frames.filter((f: any) => f.event === 'phx_reply') as any[];
    assert.equal(replies.filter((r) => r.payload.status === 'ok').length, 20);
    assert.match(replies.at(-1).payload.response.reason, /^ClientMessageRateLimitReached: more than 20 messages per second/);
    for (let i = 0; i < 30; i++) c.push(null, `x${i}`, 'phoenix', 'heartbeat', {});
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /too many messages/);
  });

  it('an oversized broadcast gets payload_size_exceeded (supabase-js send() resolves "error"); so does a big presence track', async () => {
    const client = await settled(t.userClient(randomUUID()));
    const channel = client.channel(`big-${randomUUID()}`, { config: { broadcast: { ack: true } } });
    await subscribe(channel);
    assert.equal(await channel.send({ type: 'broadcast', event: 'e', payload: { big: 'x'.repeat(61 * 1024) } }), 'error');
    assert.equal(await channel.track({ big: 'x'.repeat(61 * 1024) }), 'error');
    assert.equal(await channel.send({ type: 'broadcast', event: 'e', payload: { small: true } }), 'ok');
    const c = await open();
    const { joinRef } = await c.join('realtime:big');
    c.push(joinRef, '5', 'realtime:big', 'broadcast', { type: 'broadcast', event: 'e', payload: { big: 'x'.repeat(61 * 1024) } });
    const reply = await c.next((f) => f.ref === '5');
    assert.equal(reply.payload.response.error, 'payload_size_exceeded');
    assert.match(reply.payload.response.reason, /^PayloadTooLarge: broadcast payload of \d+ bytes exceeds the limit of 61440 bytes/);
    c.close();
    await client.removeChannel(channel);
  });
});

/** A WebSocket client on a bare TCP socket, so the test can stop reading (a slow phone) without private APIs. */
async function stalledClient(room: string): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const url = new URL(t.url);
  const socket = net.connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `GET /realtime/v1/websocket?apikey=${t.anonKey}&vsn=2.0.0 HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const payload = Buffer.from(JSON.stringify(['1', '1', `realtime:${room}`, 'phx_join', { config: {} }]));
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  await waitFor(() => Buffer.concat(chunks).includes('"phx_reply"'), 'the join reply');
  socket.pause();
  return { socket, received: () => Buffer.concat(chunks) };
}

/** The close code in a stream of server frames, if a close frame is in it. */
function closeCode(stream: Buffer): number | undefined {
  let i = stream.indexOf('\r\n\r\n') + 4;
  while (i + 2 <= stream.length) {
    const opcode = stream[i]! & 0x0f;
    let len = stream[i + 1]! & 0x7f;
    let head = 2;
    if (len === 126) [len, head] = [stream.readUInt16BE(i + 2), 4];
    else if (len === 127) [len, head] = [Number(stream.readBigUInt64BE(i + 2)), 10];
    if (opcode === 8 && i + head + 2 <= stream.length) return stream.readUInt16BE(i + head);
    i += head + len;
  }
  return undefined;
}

describe('slow consumers', () => {
  it('a client that stops reading is disconnected (1013 "slow consumer"): the server stops queueing for it', async () => {
    const room = `flood-${randomUUID()}`;
    const slow = await stalledClient(room);
    const fast = await settled(t.userClient(randomUUID()));
    const got: unknown[] = [];
    const fastChannel = fast.channel(room).on('broadcast', { event: 'flood' }, (p) => got.push(p));
    await subscribe(fastChannel);
    const payload = { blob: 'y'.repeat(59 * 1024) };
    const headers = { apikey: t.serviceRoleKey, authorization: `Bearer ${t.serviceRoleKey}`, 'content-type': 'application/json' };
    const posts = 700; // ~42 MB to the stalled socket if nothing stopped it
    for (let i = 0; i < posts; i++) {
      const res = await fetch(`${t.url}/realtime/v1/api/broadcast`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ topic: room, event: 'flood', payload }] }) });
      assert.equal(res.status, 202);
    }
    await waitFor(() => got.length === posts, 'the fast reader to get everything', 20_000);
    slow.socket.resume();
    await new Promise((r) => (slow.socket.destroyed ? r(null) : slow.socket.once('close', r)));
    // What the server queued for the stalled client is all it will ever get: far less than the flood, because the
    // server stopped queueing and closed it once maxOutgoingBufferBytes were unread. Memory stays bounded by that.
    const stream = slow.received();
    assert.ok(stream.length < 16 * 1024 * 1024, `the stalled client got ${stream.length} bytes of ~42 MB`);
    const code = closeCode(stream);
    if (code !== undefined) assert.equal(code, 1013);
    await fast.removeChannel(fastChannel);
  });
});

describe('isolation', () => {
  it('after all of the above, the well-behaved client still receives broadcasts', async () => {
    const res = await fetch(`${t.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: t.anonKey, authorization: `Bearer ${t.anonKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic: healthy.room, event: 'ping', payload: { ok: true } }] }),
    });
    assert.equal(res.status, 202);
    await waitFor(() => healthy.received.length === 1, 'the healthy client to hear the ping');
  });

  it('connections over maxConnections get HTTP 429 at upgrade', async () => {
    const small = await startTestServer({ limits: { ...DEFAULT_LIMITS, realtime: { ...DEFAULT_LIMITS.realtime, maxConnections: 2 } } });
    after(() => small.close());
    const a = await RawClient.open(socketUrl(small, small.anonKey));
    const b = await RawClient.open(socketUrl(small, small.anonKey));
    await assert.rejects(RawClient.open(socketUrl(small, small.anonKey)), /Unexpected server response: 429/);
    a.close();
    await sleep(100);
    const c = await RawClient.open(socketUrl(small, small.anonKey));
    b.close();
    c.close();
  });
});
