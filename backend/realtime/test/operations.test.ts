// What an operator uses: /metrics (Prometheus text, each family moving with what it counts, and who may read
// it), /ready against /health, and the settings' errors. (The token command as `npm start` prints it:
// server-process.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { ConfigError, loadConfig } from '@mobvibe/realtime-server';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { readiness } from '../src/http/health.js';
import { checkMetricsAccess } from '../src/http/metricsEndpoint.js';
import { parseTarget } from '../src/http/target.js';
import { joinRefusal, settled, subscribe, thinking, waitFor } from './realtime-helpers.js';

/** Polls `fn` every 50 ms until it gives a value (async predicates, unlike realtime-helpers' waitFor). */
async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const v = await fn();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

let t: TestServer;
const alice = randomUUID();
before(async () => {
  t = await startTestServer();
});
after(() => t?.close());

/** Prometheus text as samples: `name{labels}` → value. Throws on a line that is not the exposition format. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

async function scrape(server = t): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const sample = (s: Map<string, number>, key: string) => s.get(key) ?? 0;

describe('/metrics', () => {
  it('moves with what it counts: joins and refusals, changes captured and delivered, lag, REST, sockets, pools, memory', async () => {
    const before = await scrape();
    const client = await settled(t.userClient(alice));
    const id = await t.createSession(alice);
    const got: unknown[] = [];
    const channel = client
      .channel(`session:${id}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, (p) => got.push(p));
    await subscribe(channel);
    const refused = t.userClient(randomUUID());
    const reason = await joinRefusal(refused, refused.channel(`session:${id}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${id}` }, () => undefined));
    assert.match(reason, /^Unauthorized/);
    const service = t.serviceClient();
    assert.equal((await service.from('session_events').insert([thinking(id, 1), thinking(id, 2)])).error, null);
    await waitFor(() => got.length === 2, 'two events');
    assert.equal((await client.from('sessions').select('id').eq('id', id)).status, 200);

    const now = await scrape();
    const grew = (key: string, by = 1) => assert.ok(sample(now, key) - sample(before, key) >= by, `${key}: ${sample(before, key)} → ${sample(now, key)}`);
    grew('mobvibe_realtime_joins_total');
    grew('mobvibe_realtime_joins_refused_total{reason="Unauthorized"}');
    grew('mobvibe_realtime_changes_captured_total{table="session_events",type="INSERT"}', 2);
    grew('mobvibe_realtime_messages_delivered_total{kind="changes"}', 2);
    grew('mobvibe_realtime_delivery_lag_seconds_count', 2);
    grew('mobvibe_http_requests_total{api="rest",method="POST",status="201"}');
    grew('mobvibe_http_requests_total{api="rest",method="GET",status="200"}');
    grew('mobvibe_http_request_duration_seconds_count{api="rest"}', 2);
    assert.ok(sample(now, 'mobvibe_realtime_sockets{role="anon"}') >= 1, 'the user client\'s socket (anon apikey)');
    assert.ok(sample(now, 'mobvibe_realtime_channels{access="public"}') >= 1);
    assert.ok(sample(now, 'mobvibe_realtime_postgres_changes_bindings') >= 1);
    assert.equal(sample(now, 'mobvibe_realtime_change_feed_up'), 1);
    assert.ok(now.has('mobvibe_db_pool_connections{pool="rest",state="total"}'));
    assert.ok(now.has('mobvibe_db_pool_connections{pool="feed",state="waiting"}'));
    assert.ok(now.has('mobvibe_realtime_change_feed_reconnects_total'));
    assert.ok(sample(now, 'process_resident_memory_bytes') > 10_000_000, 'process memory');
    assert.ok(now.has('nodejs_eventloop_lag_p99_seconds'));
    await client.removeAllChannels();
  });

  it('loopback by default: refused (403) when a proxy header says the client is elsewhere, and from a non-loopback peer', async () => {
    const res = await fetch(`${t.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).code, 'metrics_forbidden');
    const fromElsewhere = { socket: { remoteAddress: '203.0.113.9' }, headers: {} } as unknown as IncomingMessage;
    assert.throws(() => checkMetricsAccess(fromElsewhere, { mode: 'loopback' }), { status: 403 });
    const fromHere = { socket: { remoteAddress: '::ffff:127.0.0.1' }, headers: {} } as unknown as IncomingMessage;
    assert.doesNotThrow(() => checkMetricsAccess(fromHere, { mode: 'loopback' }));
  });

  it('bearer: 401 without or with a wrong token, 200 with it; off: 404', async () => {
    const token = 'scrape-token-0123456789abcdef';
    const bearer = await startTestServer({ metrics: { mode: 'bearer', token } });
    const off = await startTestServer({ metrics: { mode: 'off' } });
    try {
      assert.equal((await fetch(`${bearer.url}/metrics`)).status, 401);
      assert.equal((await fetch(`${bearer.url}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
      const ok = await fetch(`${bearer.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.ok(parseExposition(await ok.text()).has('mobvibe_realtime_change_feed_up'));
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
    } finally {
      await bearer.close();
      await off.close();
    }
  });

  it('settings: a bad mode, bearer without a token, or a token without bearer are config errors that say what to set', () => {
    assert.throws(() => loadConfig({ MOBVIBE_METRICS: 'public' }), (e: Error) => e instanceof ConfigError && /off, loopback or bearer/.test(e.message));
    assert.throws(() => loadConfig({ MOBVIBE_METRICS: 'bearer' }), /MOBVIBE_METRICS_TOKEN/);
    assert.throws(() => loadConfig({ MOBVIBE_METRICS_TOKEN: 'x'.repeat(20) }), /MOBVIBE_METRICS=bearer/);
    assert.deepEqual(loadConfig({}).metrics, { mode: 'loopback' });
  });
});

describe('/ready and /health', () => {
  /** The readiness handler alone, over real HTTP, with what it reads set by the test. */
  async function readinessOver(sources: Parameters<typeof readiness>[0]) {
    const handler = readiness(sources);
    const server = http.createServer((req, res) => void handler(req, res, parseTarget(req.url)!));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const ask = async () => {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`);
      return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
    };
    return { ask, close: () => new Promise((r) => server.close(r)) };
  }

  it('ready while PostgreSQL answers and the change feed is up; 503 with what is not ready otherwise (draining, database, feed)', async () => {
    let draining = false;
    let feed: 'up' | 'down' = 'up';
    let dbUp = true;
    const pool = { query: async () => (dbUp ? { rows: [] } : Promise.reject(new Error('down'))) } as unknown as pg.Pool;
    const r = await readinessOver({ pool, feedState: () => feed, draining: () => draining });
    try {
      assert.deepEqual(await r.ask(), { status: 200, body: { status: 'ready', database: 'up', realtime: 'up' }, retryAfter: null });
      draining = true;
      assert.deepEqual(await r.ask(), { status: 503, body: { status: 'draining', database: 'up', realtime: 'up' }, retryAfter: '1' });
      draining = false;
      feed = 'down';
      assert.deepEqual((await r.ask()).body, { status: 'not_ready', database: 'up', realtime: 'down' });
      feed = 'up';
      dbUp = false;
      await new Promise((res) => setTimeout(res, 1_100)); // the last database answer is reused for a second
      assert.deepEqual((await r.ask()).body, { status: 'not_ready', database: 'down', realtime: 'up' });
    } finally {
      await r.close();
    }
  });

  it('a server whose change feed lost PostgreSQL: /ready 503 until it is back, /health 200 throughout, a reconnect counted', async () => {
    const s = await startTestServer();
    try {
      await s.sql.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'mobvibe-realtime-wal' and datname = current_database()`);
      const down = await until(async () => {
        const res = await fetch(`${s.url}/ready`);
        return res.status === 503 ? ((await res.json()) as { realtime: string }) : undefined;
      }, 'not ready');
      assert.equal(down.realtime, 'down');
      assert.equal((await fetch(`${s.url}/health`)).status, 200);
      await until(async () => ((await fetch(`${s.url}/ready`)).status === 200 ? true : undefined), 'ready again');
      assert.ok(sample(await scrape(s), 'mobvibe_realtime_change_feed_reconnects_total') >= 1);
    } finally {
      await s.close();
    }
  });
});
