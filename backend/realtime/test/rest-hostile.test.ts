// Hostile REST clients: bodies cut off mid-way, statements past PostgreSQL's 65,535 bind values, malformed
// percent-escapes, JSON nested 10,000 deep, type-confused filters, absurd limit/offset, reads past maxRows and
// maxResponseBytes, over-long titles, and more requests in flight than a principal may have. Each is answered
// with a 4xx in PostgREST's error shape {code, message, details, hint}, nothing is stored that the client was
// told failed (checked with SQL), and the server keeps serving everyone else.
//
// One server for the whole file, with small limits (maxRows 5, maxResponseBytes 2000, 2 requests in flight
// per principal) and a logger that keeps every line, so what the server logs about hostile clients is checked.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { startServer, userToken, type RunningServer } from '@mobvibe/realtime-server';
import { createTestDatabase, supabaseClient, TEST_JWT_SECRET, type TestDatabase } from '@mobvibe/testkit';
import { dechunk } from './http-helpers.js';

const MAX_ROWS = 5;
const MAX_RESPONSE_BYTES = 2000;
const MAX_IN_FLIGHT = 2;
const MAX_STATEMENT_VALUES = 65_535;

interface LogLine {
  level: number;
  msg?: string;
  err?: { code?: string; message?: string; status?: number };
  [key: string]: unknown;
}

/** Every line the server logged (pino levels: 20 debug, 30 info, 40 warn, 50 error, 60 fatal). */
const logs: LogLine[] = [];
const logged = new EventEmitter();
const logger = pino({ level: 'debug', base: { service: 'mobvibe-realtime' } }, {
  write(line: string) {
    const parsed = JSON.parse(line) as LogLine;
    logs.push(parsed);
    logged.emit('line', parsed);
  },
});

let server: RunningServer;
let database: TestDatabase;
let sql: pg.Pool;
let url: string;
let port: number;
let anonKey: string;
let serviceKey: string;

before(async () => {
  database = await createTestDatabase();
  server = await startServer({
    config: {
      port: 0, databaseUrl: database.url, jwtSecret: TEST_JWT_SECRET, usingDevSecret: false,
      limits: { maxRows: MAX_ROWS, maxResponseBytes: MAX_RESPONSE_BYTES, maxRequestsInFlightPerPrincipal: MAX_IN_FLIGHT },
    },
    logger,
  });
  url = server.url;
  port = server.port;
  anonKey = server.keys.anonKey;
  serviceKey = server.keys.serviceRoleKey;
  sql = new pg.Pool({ connectionString: database.url, max: 4 });
});
after(async () => {
  await sql?.end();
  await server?.close();
  await database?.drop();
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

const token = (userId: string) => userToken(TEST_JWT_SECRET, userId);
const asUser = (userId: string): Record<string, string> => ({ apikey: anonKey, authorization: `Bearer ${token(userId)}` });
const asService = (): Record<string, string> => ({ apikey: serviceKey, authorization: `Bearer ${serviceKey}` });

function rest(path: string, auth: Record<string, string>, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...auth, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}

interface PgrstError {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

/**
 * Asserts a PostgREST-shaped error: the status, Content-Type application/json, and a body with exactly the keys
 * code, message, details and hint (strings, details and hint possibly null). Returns the body.
 */
async function expectError(res: Response, status: number, code?: string): Promise<PgrstError> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json(;|$)/, 'errors are JSON');
  return checkShape(text, code);
}

function checkShape(text: string, code?: string): PgrstError {
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'hint', 'message'], `PostgREST error shape: ${text.slice(0, 300)}`);
  assert.equal(typeof body.code, 'string');
  assert.equal(typeof body.message, 'string');
  assert.ok(body.details === null || typeof body.details === 'string', 'details is a string or null');
  assert.ok(body.hint === null || typeof body.hint === 'string', 'hint is a string or null');
  if (code !== undefined) assert.equal(body.code, code, text.slice(0, 300));
  return body as unknown as PgrstError;
}

const count = async (text: string, values: unknown[] = []): Promise<number> =>
  Number((await sql.query<{ n: string }>(`select count(*) as n from (${text}) _q`, values)).rows[0]!.n);

const sessionsOf = (userId: string) => count('select 1 from public.sessions where user_id = $1', [userId]);

/** Inserts `n` sessions for `userId` by plain SQL, titled `${prefix}${i}`. */
async function seedSessions(userId: string, n: number, title: (i: number) => string): Promise<void> {
  await sql.query(
    `insert into public.sessions (user_id, title, status) select $1, t, 'running' from unnest($2::text[]) t`,
    [userId, Array.from({ length: n }, (_, i) => title(i))],
  );
}

/** Resolves with the first log line (from now on, or already logged after `since`) matching `pred`; fails after `ms`. */
function waitForLog(pred: (l: LogLine) => boolean, what: string, since = 0, ms = 5_000): Promise<LogLine> {
  const seen = logs.slice(since).find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      logged.off('line', onLine);
      reject(new Error(`no log line ${what} within ${ms} ms; last lines: ${JSON.stringify(logs.slice(-5))}`));
    }, ms);
    const onLine = (l: LogLine) => {
      if (!pred(l)) return;
      clearTimeout(timer);
      logged.off('line', onLine);
      resolve(l);
    };
    logged.on('line', onLine);
  });
}

/** Polls `probe` until it is true (a condition observed in PostgreSQL, not a sleep); fails after `ms`. */
async function until(probe: () => Promise<boolean>, what: string, ms = 5_000, explain?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${explain ? `: ${JSON.stringify(await explain())}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface SlowRequest {
  socket: net.Socket;
  /** Resolves once the server answered `100 Continue`: it has read the headers and is now reading the body. */
  continued: Promise<void>;
  /** The final answer (after the connection closes). */
  response: Promise<RawResponse>;
}

/**
 * A request on a raw socket with `Expect: 100-continue`: only the head is sent; the caller writes the body
 * (or part of it) once `continued` resolves. Node answers 100 Continue before it hands the request to the
 * server's handler, which counts it in flight at once (before reading the body), so after `continued` the
 * request holds its principal's in-flight slot.
 */
function slowRequest(method: string, path: string, headers: Record<string, string>, contentLength: number): SlowRequest {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // the tests reset some of these sockets on purpose
  let raw = Buffer.alloc(0);
  let onContinue: () => void;
  const continued = new Promise<void>((resolve) => (onContinue = resolve));
  socket.on('data', (d: Buffer) => {
    raw = Buffer.concat([raw, d]);
    if (/^HTTP\/1\.1 100 /.test(raw.toString('latin1'))) onContinue();
  });
  const response = new Promise<RawResponse>((resolve) => {
    socket.on('close', () => {
      let text = raw.toString('utf8');
      text = text.replace(/^HTTP\/1\.1 100 [^\r]*\r\n\r\n/, '');
      const headEnd = text.indexOf('\r\n\r\n');
      const head = text.slice(0, headEnd < 0 ? text.length : headEnd).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const hs: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) hs[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = headEnd < 0 ? '' : text.slice(headEnd + 4);
      if (/chunked/i.test(hs['transfer-encoding'] ?? '')) body = dechunk(body);
      resolve({ status, headers: hs, body });
    });
  });
  const lines = [
    `${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${contentLength}`,
    'Expect: 100-continue', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return { socket, continued, response };
}


/** JSON text padded with trailing spaces (still valid JSON) to exactly `bytes` bytes. */
function padded(value: unknown, bytes: number): string {
  const text = JSON.stringify(value);
  assert.ok(Buffer.byteLength(text) <= bytes, 'padding target too small');
  return text + ' '.repeat(bytes - Buffer.byteLength(text));
}

const errorLines = () => logs.filter((l) => l.level >= 50);

// ---------------------------------------------------------------------------------------------------------

describe('1. a client that goes away mid-body', () => {
  /**
   * Sends the head of a 100,000-byte write for `user` (Content-Length: 100000), waits until the server is
   * reading the body (100 Continue), writes 1,000 bytes of it and goes away: `rst` resets the connection,
   * `fin` closes it (what a killed app or a fetch aborted by its AbortController does). Resolves with the
   * server's log line about the request, or undefined if there is none within `ms`.
   */
  async function abortMidBody(user: string, how: 'fin' | 'rst', method: 'POST' | 'PATCH', path: string, i: number, ms = 5_000): Promise<LogLine | undefined> {
    const mark = logs.length;
    const body = padded(method === 'PATCH' ? { title: `aborted-${i}` } : path.includes('/rpc/') ? { events: [] } : [{ user_id: user, title: `aborted-${i}` }], 100_000);
    const req = slowRequest(method, path, asUser(user), 100_000);
    await req.continued;
    await new Promise((r) => req.socket.write(body.slice(0, 1_000), r));
    if (how === 'rst') {
      // A reset that arrives with unread data is an end of stream to the reader; so the server reads these bytes
      // first: it has once it answered a later request (same event loop, loopback).
      assert.equal((await fetch(`${url}/health`)).status, 200);
      req.socket.resetAndDestroy();
    } else req.socket.destroy();
    // Sentinel: the server's own account of this request (its handler logs every failure, then frees the slot).
    const pathname = path.replace(/\?.*/, '');
    return waitForLog((l) => l.msg === 'REST request failed' && l.path === pathname && l.method === method, `for abort ${i}`, mark, ms).catch(() => undefined);
  }

  /** Both of `user`'s slots are free: two writes held in flight at once (each mid-body), a third refused, then both complete. */
  async function bothSlotsFree(user: string): Promise<void> {
    const held = [0, 1].map((i) => {
      const body = padded([{ user_id: user, title: `completed-${i}` }], 100_000);
      return { body, req: slowRequest('POST', '/rest/v1/sessions', asUser(user), Buffer.byteLength(body)) };
    });
    await Promise.all(held.map((h) => h.req.continued));
    for (const h of held) h.req.socket.write(h.body.slice(0, 500));
    const third = await expectError(await rest('/rest/v1/sessions?select=id', asUser(user)), 429, 'too_many_requests');
    assert.match(third.message, /more than 2 requests in flight/);
    for (const h of held) h.req.socket.write(h.body.slice(500));
    const answers = await Promise.all(held.map((h) => h.req.response));
    assert.deepEqual(answers.map((a) => a.status), [201, 201], JSON.stringify(answers));
    const after = await rest('/rest/v1/sessions?select=title&order=title', asUser(user));
    assert.equal(after.status, 200);
    assert.deepEqual(await after.json(), [{ title: 'completed-0' }, { title: 'completed-1' }]);
  }

  function noOutage(since: number, errorsBefore: number): void {
    assert.equal(errorLines().length, errorsBefore, `error-level lines: ${JSON.stringify(errorLines().slice(errorsBefore))}`);
    const mine = logs.slice(since);
    const text = JSON.stringify(mine);
    assert.doesNotMatch(text, /Could not connect with the database/);
    assert.doesNotMatch(text, /PGRST000/);
    assert.ok(!mine.some((l) => l.err?.status === 503), 'no 503');
  }

  it('reset (RST) mid-body: a client fault logged below error level, never a 503 or "Could not connect with the database"; the slot is released', async () => {
    const user = randomUUID();
    const since = logs.length;
    const errorsBefore = errorLines().length;
    const aborts = [
      ['POST', '/rest/v1/sessions'], ['POST', '/rest/v1/sessions?select=id'], ['PATCH', `/rest/v1/sessions?user_id=eq.${user}`],
      ['POST', '/rest/v1/rpc/append_session_events'], ['POST', '/rest/v1/sessions'],
    ] as const;
    // Five aborts one after the other with 2 slots: a slot leaked by any of the first would make a later one a 429.
    for (const [i, [method, path]] of aborts.entries()) {
      const line = await abortMidBody(user, 'rst', method, path, i);
      assert.ok(line, `the server logged nothing about abort ${i} (${method} ${path}) within 5 s`);
      assert.equal(line.err?.code, 'request_aborted', `abort ${i}: ${JSON.stringify(line.err)}`);
      assert.equal(line.err?.status, 400);
      assert.ok(line.level < 50, `abort ${i} logged at level ${line.level}`);
    }
    noOutage(since, errorsBefore);
    await bothSlotsFree(user);
    // Nothing of the aborted bodies was stored.
    assert.equal(await count(`select 1 from public.sessions where user_id = $1 and title like 'aborted-%'`, [user]), 0);
    assert.equal(await sessionsOf(user), 2);
  });

  it('closed (FIN) mid-body: the same, and the slot is released', async () => {
    // A FIN mid-body ends Node's parser in HPE_INVALID_EOF_STATE ('clientError') while the request is in flight:
    // the router drops the connection, so the request is aborted and its in-flight slot given back (it once
    // waited for that request's answer, which waited for the body: the slot stayed taken for requestTimeout).
    const user = randomUUID();
    const since = logs.length;
    const errorsBefore = errorLines().length;
    const lines = [];
    for (const [i, [method, path]] of ([['POST', '/rest/v1/sessions'], ['PATCH', `/rest/v1/sessions?user_id=eq.${user}`]] as const).entries()) {
      lines.push(await abortMidBody(user, 'fin', method, path, i, 2_000));
    }
    const probe = await rest('/rest/v1/sessions?select=id', asUser(user));
    const probeText = await probe.text();
    assert.equal(probe.status, 200, `after two FIN aborts the user is refused: ${probe.status} ${probeText}; server log lines about the aborts: ${JSON.stringify(lines)}`);
    for (const [i, line] of lines.entries()) {
      assert.ok(line, `the server logged nothing about FIN abort ${i} within 2 s`);
      assert.equal(line.err?.code, 'request_aborted');
      assert.ok(line.level < 50);
    }
    noOutage(since, errorsBefore);
    await bothSlotsFree(user);
    assert.equal(await count(`select 1 from public.sessions where user_id = $1 and title like 'aborted-%'`, [user]), 0);
  });
});

describe('2. a statement needing more than 65,535 bind values', () => {
  // sessions has five columns (id, user_id, title, status, created_at): 13,107 rows are 65,535 values.
  const rows = (userId: string, n: number) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: randomUUID(), user_id: userId, title: `t${i}`, status: 'running', created_at: '2026-01-01T00:00:00Z' })));

  it('is refused with 413 payload_too_large naming the limit, and nothing is stored', async () => {
    const user = randomUUID();
    const res = await rest('/rest/v1/sessions', asService(), { method: 'POST', body: rows(user, 13_108) });
    const err = await expectError(res, 413, 'payload_too_large');
    assert.match(err.message, new RegExp(`more than ${MAX_STATEMENT_VALUES} values in one statement`));
    assert.match(err.hint ?? '', /fewer rows/);
    assert.equal(await sessionsOf(user), 0);
    // The same for a user (RLS would let these rows in).
    const asU = await rest('/rest/v1/sessions', asUser(user), { method: 'POST', body: JSON.stringify(Array.from({ length: 16_384 }, (_, i) => ({ user_id: user, title: `u${i}`, status: 'x', id: randomUUID() }))) });
    await expectError(asU, 413, 'payload_too_large');
    assert.equal(await sessionsOf(user), 0);
  });

  it('exactly 65,535 values is accepted and stored whole', async () => {
    const user = randomUUID();
    const res = await rest('/rest/v1/sessions', asService(), { method: 'POST', body: rows(user, 13_107) });
    assert.equal(res.status, 201, await res.text());
    assert.equal(await sessionsOf(user), 13_107);
    await sql.query('delete from public.sessions where user_id = $1', [user]);
  });
});

describe('3. malformed percent-escapes in the query string', () => {
  it('a malformed escape in select, a filter key or order is a 400 PGRST100, never a 5xx', async () => {
    for (const query of ['select=%E0%A4%A', 'select=%zz', 'select=id,%', '%E0%A4%A=eq.1', '%zz=eq.x', 'order=%E0%A4%A', 'order=title.%zz']) {
      const res = await rest(`/rest/v1/sessions?${query}`, asService());
      const err = await expectError(res, 400, 'PGRST100');
      assert.ok(err.message.length > 0, query);
    }
  });

  it('in a filter value, a malformed escape stays as it is (as PostgREST: http-types urlDecode passes it through), a 200', async () => {
    // Not a 400: PostgREST's urlDecode (http-types) leaves "%zz" undecoded and filters on the literal text, and so
    // does this server (URLSearchParams): the value is matched verbatim, and nothing fails.
    const user = randomUUID();
    await seedSessions(user, 1, () => '%zz');
    const hit = await rest(`/rest/v1/sessions?select=title&user_id=eq.${user}&title=eq.%zz`, asService());
    assert.equal(hit.status, 200);
    assert.deepEqual(await hit.json(), [{ title: '%zz' }]);
    for (const query of ['title=eq.%E0%A4%A', 'title=in.(%zz,%E0%A4%A,%)', 'title=neq.%', 'status=eq.%%%']) {
      const res = await rest(`/rest/v1/sessions?select=title&user_id=eq.${user}&${query}`, asService());
      assert.ok(res.status < 500, `${query}: ${res.status}`);
      assert.equal(res.status, 200, query);
    }
    // A malformed escape in a uuid filter is a type error of the value: 400 22P02, not a 5xx.
    const uuid = await rest('/rest/v1/sessions?id=eq.%zz', asService());
    await expectError(uuid, 400, '22P02');
  });
});

describe('4. JSON nested 10,000 deep', () => {
  const deepArray = '['.repeat(10_000) + ']'.repeat(10_000);
  const deepObject = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);

  it('REST writes refuse it with 400 PGRST102 naming the depth, storing nothing', async () => {
    const user = randomUUID();
    for (const [path, method, body] of [
      ['/rest/v1/sessions', 'POST', deepArray],
      ['/rest/v1/sessions', 'POST', deepObject],
      ['/rest/v1/sessions', 'POST', `[{"user_id":"${user}","title":"t","status":${deepArray}}]`],
      [`/rest/v1/sessions?user_id=eq.${user}`, 'PATCH', deepObject],
      ['/rest/v1/session_events', 'POST', `{"session_id":"${randomUUID()}","event_type":"completion","payload":${deepObject}}`],
      ['/rest/v1/rpc/append_session_events', 'POST', `{"events":${deepArray}}`],
    ] as const) {
      for (const auth of [asUser(user), asService()]) {
        const err = await expectError(await rest(path, auth, { method, body }), 400, 'PGRST102');
        assert.match(err.message, /nested deeper than 64 levels/, `${method} ${path}`);
        assert.match(err.hint ?? '', /flatten/);
      }
    }
    assert.equal(await sessionsOf(user), 0);
  });

  it('the broadcast REST API refuses it with 400 (anon key), and takes a payload at the depth limit', async () => {
    const broadcast = (payload: string) =>
      fetch(`${url}/realtime/v1/api/broadcast`, {
        method: 'POST',
        headers: { apikey: anonKey, 'content-type': 'application/json' },
        body: `{"messages":[{"topic":"hostile","event":"e","payload":${payload}}]}`,
      });
    for (const payload of [deepArray, deepObject]) {
      const res = await broadcast(payload);
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      // The broadcast API answers as Supabase Realtime's does: {"error": "..."} (not PostgREST's shape).
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['error']);
      assert.match(String(body.error), /nested deeper than 64 levels/);
    }
    // Three levels of envelope ({ messages: [ { payload } ] }) plus 61 of payload is 64: accepted; 62 is refused.
    const nested = (d: number) => '['.repeat(d) + ']'.repeat(d);
    assert.equal((await broadcast(nested(61))).status, 202);
    assert.equal((await broadcast(nested(62))).status, 400);
    // The endpoint with the event in the path as well.
    const single = await fetch(`${url}/realtime/v1/api/broadcast/hostile/events/e`, {
      method: 'POST', headers: { apikey: anonKey, 'content-type': 'application/json' }, body: deepObject,
    });
    assert.equal(single.status, 400);
    assert.match(String(((await single.json()) as { error: string }).error), /nested deeper/);
  });
});

describe('5. is.true / is.false on a non-boolean column', () => {
  it('is a 400 42804 naming the column and its type, never a 500', async () => {
    for (const [query, column, type] of [
      ['title=is.true', 'title', 'text'],
      ['title=is.FALSE', 'title', 'text'],
      ['status=not.is.unknown', 'status', 'text'],
      ['id=is.true', 'id', 'uuid'],
      ['created_at=is.false', 'created_at', 'timestamp with time zone'],
    ] as const) {
      const err = await expectError(await rest(`/rest/v1/sessions?${query}`, asService()), 400, '42804');
      assert.match(err.message, new RegExp(`${column} has type ${type}`), query);
    }
    // is.null works on any column.
    const ok = await rest('/rest/v1/sessions?select=id&title=is.null&limit=1', asService());
    assert.equal(ok.status, 200);
    // A user's request gets the same answer.
    await expectError(await rest('/rest/v1/sessions?title=is.true', asUser(randomUUID())), 400, '42804');
  });
});

describe('6. absurd limit and offset', () => {
  it('is a 400 naming limit or offset, never a message about a column "infinity"', async () => {
    // PostgREST itself ignores a limit it cannot read (readMaybe) and answers limit=-1 with 416 PGRST103; this
    // server refuses every such value with 400 PGRST100 instead (stricter: a typo is not silently ignored).
    const bad = [
      'limit=1e20', 'limit=-1', 'offset=99999999999999999999', 'limit=abc', 'limit=Infinity', 'limit=-Infinity',
      'limit=NaN', 'limit=1.5', 'limit=0x10', 'limit=', 'offset=-1', 'offset=1e3', 'offset=Infinity',
      'limit=9007199254740992', 'limit=9999999999999999', 'limit=%EF%BC%99', 'limit=%205', 'limit=5%00',
    ];
    for (const query of bad) {
      const res = await rest(`/rest/v1/sessions?select=id&${query}`, asService());
      const err = await expectError(res, 400, 'PGRST100');
      const name = query.slice(0, query.indexOf('='));
      assert.match(err.message, new RegExp(`^${name}=`), `${query}: ${err.message}`);
      assert.doesNotMatch(JSON.stringify(err), /infinity"|column/i, query);
    }
  });

  it('the largest allowed values are answered, not failed', async () => {
    const far = await rest('/rest/v1/sessions?select=id&offset=9007199254740991', asService());
    assert.equal(far.status, 200);
    assert.deepEqual(await far.json(), []);
    const big = await rest('/rest/v1/sessions?select=id&limit=9007199254740991', asService());
    assert.equal(big.status, 200);
    assert.ok(((await big.json()) as unknown[]).length <= MAX_ROWS);
    const zero = await rest('/rest/v1/sessions?select=id&limit=0', asService());
    assert.equal(zero.status, 200);
    assert.deepEqual(await zero.json(), []);
  });
});

describe(`7. maxRows = ${MAX_ROWS}`, () => {
  const user = randomUUID();
  before(() => seedSessions(user, 12, (i) => `row-${String(i).padStart(2, '0')}`));

  it('a read returns exactly maxRows rows, whatever limit was asked for; Content-Range tells the total', async () => {
    const total = await sessionsOf(user);
    assert.equal(total, 12);
    const plain = await rest(`/rest/v1/sessions?select=title&user_id=eq.${user}&order=title`, asService());
    assert.equal(plain.status, 200);
    assert.equal(((await plain.json()) as unknown[]).length, MAX_ROWS);
    assert.equal(plain.headers.get('content-range'), '0-4/*');
    const asked = await rest(`/rest/v1/sessions?select=title&user_id=eq.${user}&order=title&limit=100`, asService(), { headers: { prefer: 'count=exact' } });
    const rows = (await asked.json()) as Array<{ title: string }>;
    assert.deepEqual(rows.map((r) => r.title), ['row-00', 'row-01', 'row-02', 'row-03', 'row-04']);
    assert.equal(asked.headers.get('content-range'), `0-4/${total}`);
    const offset = await rest(`/rest/v1/sessions?select=title&user_id=eq.${user}&order=title&offset=10`, asService(), { headers: { prefer: 'count=exact' } });
    assert.deepEqual(((await offset.json()) as Array<{ title: string }>).map((r) => r.title), ['row-10', 'row-11']);
    assert.equal(offset.headers.get('content-range'), `10-11/${total}`);
    // supabase-js, as the app uses it (RLS: the user's own rows), reads the same cap and the exact count.
    const { data, count: n, error } = await supabaseClient(url, anonKey, token(user)).from('sessions').select('title', { count: 'exact' }).order('title');
    assert.equal(error, null);
    assert.equal(data!.length, MAX_ROWS);
    assert.equal(n, total);
  });

  it('a partial answer with an exact count is 206 Partial Content, as PostgREST answers it', async () => {
    // PostgREST (RangeQuery.rangeStatus): 206 when fewer rows come back than the exact total, 416 past the end.
    const res = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}`, asService(), { headers: { prefer: 'count=exact' } });
    assert.equal(res.headers.get('content-range'), '0-4/12');
    assert.equal(res.status, 206);
    const whole = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}&limit=3&offset=10`, asService(), { headers: { prefer: 'count=exact' } });
    assert.equal(whole.headers.get('content-range'), '10-11/12');
    assert.equal(whole.status, 206);
    const all = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}&offset=10`, asService(), { headers: { prefer: 'count=exact' } });
    assert.equal(all.status, 206);
    const past = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}&offset=13`, asService(), { headers: { prefer: 'count=exact' } });
    assert.equal(past.status, 416);
    const body = await past.json();
    assert.equal(body.code, 'PGRST103');
    assert.match(body.details, /offset of 13 was requested, but there are only 12 rows/);
    const end = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}&offset=12`, asService(), { headers: { prefer: 'count=exact' } });
    assert.equal(end.status, 206, 'an offset at the end is an empty page (PostgREST: 0 rows < total is partial)');
    assert.equal(end.headers.get('content-range'), '*/12');
  });

  it('a set-returning RPC is capped too (while the call itself stores every row)', async () => {
    const sessionId = randomUUID();
    await sql.query(`insert into public.sessions (id, user_id, title, status) values ($1, $2, 'rpc', 'running')`, [sessionId, user]);
    const events = Array.from({ length: 8 }, (_, i) => ({ id: randomUUID(), session_id: sessionId, event_type: 'completion', payload: { message: `m${i}` } }));
    const res = await rest('/rest/v1/rpc/append_session_events', asService(), { method: 'POST', body: JSON.stringify({ events }) });
    assert.equal(res.status, 200);
    const rows = (await res.json()) as Array<{ seq: number }>;
    assert.equal(rows.length, MAX_ROWS);
    assert.equal(res.headers.get('content-range'), '0-4/*');
    assert.equal(await count('select 1 from public.session_events where session_id = $1', [sessionId]), 8);
  });
});

describe(`8. maxResponseBytes = ${MAX_RESPONSE_BYTES}`, () => {
  it('a read that would return more is 413 PT413, telling to ask for fewer rows', async () => {
    const user = randomUUID();
    await seedSessions(user, 4, (i) => `${i}`.padEnd(600, 'x'));
    const res = await rest(`/rest/v1/sessions?user_id=eq.${user}`, asUser(user));
    // limits.ts documents "413 response_too_large"; the server (mobvibe.refuse_large_response, PostgREST's PTnnn convention) answers PT413.
    const err = await expectError(res, 413, 'PT413');
    assert.match(err.message, /the response would be \d+ bytes; the limit is 2000 bytes/);
    assert.match(err.hint ?? '', /ask for fewer rows \(limit\) or fewer columns \(select\)/);
    // Fewer rows, or fewer columns, fit.
    const two = await rest(`/rest/v1/sessions?user_id=eq.${user}&limit=2`, asUser(user));
    assert.equal(two.status, 200);
    assert.equal(((await two.json()) as unknown[]).length, 2);
    const narrow = await rest(`/rest/v1/sessions?select=id&user_id=eq.${user}`, asUser(user));
    assert.equal(narrow.status, 200);
    assert.equal(((await narrow.json()) as unknown[]).length, 4);
  });

  it('a PATCH whose representation is too large is 413 and rolled back; an INSERT likewise stores nothing', async () => {
    const user = randomUUID();
    await seedSessions(user, 4, (i) => `before-${i}`);
    const snapshot = async () => (await sql.query('select id, title from public.sessions where user_id = $1 order by id', [user])).rows;
    const beforeRows = await snapshot();
    const res = await rest(`/rest/v1/sessions?user_id=eq.${user}`, asUser(user), {
      method: 'PATCH', body: JSON.stringify({ title: 'y'.repeat(600) }), headers: { prefer: 'return=representation' },
    });
    await expectError(res, 413, 'PT413');
    assert.deepEqual(await snapshot(), beforeRows, 'the update was rolled back');
    // Without a representation the same update goes through: the 413 was the answer's size, nothing else.
    const plain = await rest(`/rest/v1/sessions?user_id=eq.${user}`, asUser(user), { method: 'PATCH', body: JSON.stringify({ title: 'y'.repeat(600) }) });
    assert.equal(plain.status, 204);
    assert.equal(await count(`select 1 from public.sessions where user_id = $1 and title = $2`, [user, 'y'.repeat(600)]), 4);

    const other = randomUUID();
    const insert = await rest('/rest/v1/sessions', asUser(other), {
      method: 'POST', body: JSON.stringify([0, 1, 2, 3].map((i) => ({ user_id: other, title: `${i}`.padEnd(900, 'z') }))), headers: { prefer: 'return=representation' },
    });
    await expectError(insert, 413, 'PT413');
    assert.equal(await sessionsOf(other), 0);
  });
});

describe('9. a title over 1,000 characters', () => {
  it('is refused with 400 23514 (check constraint), storing nothing; 1,000 characters (of any width) are fine', async () => {
    const user = randomUUID();
    const post = (title: string, status = 'running') =>
      rest('/rest/v1/sessions', asUser(user), { method: 'POST', body: JSON.stringify({ user_id: user, title, status }) });
    const err = await expectError(await post('t'.repeat(1001)), 400, '23514');
    assert.match(err.message, /sessions_title_length/);
    await expectError(await post('t'.repeat(100_000)), 400, '23514');
    const status = await expectError(await post('ok', 's'.repeat(65)), 400, '23514');
    assert.match(status.message, /sessions_status_length/);
    assert.equal(await sessionsOf(user), 0);
    assert.equal((await post('€'.repeat(1000))).status, 201, '1,000 characters of 3 bytes each');
    assert.equal(await sessionsOf(user), 1);
    // An update past the limit is refused the same way and changes nothing.
    const patch = await rest(`/rest/v1/sessions?user_id=eq.${user}`, asUser(user), { method: 'PATCH', body: JSON.stringify({ title: 'u'.repeat(1001) }) });
    await expectError(patch, 400, '23514');
    assert.equal(await count('select 1 from public.sessions where user_id = $1 and title = $2', [user, '€'.repeat(1000)]), 1);
  });
});

describe(`10. more than ${MAX_IN_FLIGHT} requests in flight`, () => {
  it('a user holding 2 slow requests gets 429 with Retry-After for a third; another user and service_role still get 200', async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    await seedSessions(bob, 1, () => 'bob');
    // Alice's two reads of session_events wait on a lock held from a direct SQL connection.
    const locker = await sql.connect();
    let released = false;
    try {
      await locker.query('begin');
      await locker.query('lock table public.session_events in access exclusive mode');
      const slow = [0, 1].map(() => rest('/rest/v1/session_events?select=id', asUser(alice)));
      await until(
        async () => (await count(`select 1 from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock' and query like $1`, [`%${alice}%`])) === 2,
        "alice's two requests waiting on the lock",
        5_000,
        async () => (await sql.query(`select pid, state, wait_event_type, wait_event, left(query, 300) as query from pg_stat_activity where datname = current_database()`)).rows,
      );
      const third = await rest('/rest/v1/sessions?select=id', asUser(alice));
      assert.equal(third.headers.get('retry-after'), '1');
      const err = await expectError(third, 429, 'too_many_requests');
      assert.match(err.message, /more than 2 requests in flight at once for this user/);
      assert.match(err.hint ?? '', /wait for answers/);
      // A write is refused the same way, before its body is read, and stores nothing.
      const write = await rest('/rest/v1/sessions', asUser(alice), { method: 'POST', body: JSON.stringify({ user_id: alice, title: 'refused' }) });
      await expectError(write, 429, 'too_many_requests');
      // Others are not held back by alice.
      const bobRead = await rest('/rest/v1/sessions?select=title', asUser(bob));
      assert.equal(bobRead.status, 200);
      assert.deepEqual(await bobRead.json(), [{ title: 'bob' }]);
      const service = await rest(`/rest/v1/sessions?select=title&user_id=eq.${bob}`, asService());
      assert.equal(service.status, 200);
      assert.deepEqual(await service.json(), [{ title: 'bob' }]);
      await locker.query('commit');
      released = true;
      const answers = await Promise.all(slow);
      assert.deepEqual(answers.map((r) => r.status), [200, 200]);
      await Promise.all(answers.map((r) => r.text()));
    } finally {
      if (!released) await locker.query('rollback').catch(() => undefined);
      locker.release();
    }
    assert.equal(await sessionsOf(alice), 0);
    // Once answered, alice's slots are hers again.
    const again = await Promise.all([0, 1].map(() => rest('/rest/v1/sessions?select=id', asUser(alice))));
    assert.deepEqual(again.map((r) => r.status), [200, 200]);
  });
});

describe('11. the error shape', () => {
  it('every refusal above is JSON with exactly code, message, details and hint, as PostgREST answers', async () => {
    const user = randomUUID();
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      ['percent-escape in select', () => rest('/rest/v1/sessions?select=%E0%A4%A', asService()), 400, 'PGRST100'],
      ['deep JSON', () => rest('/rest/v1/sessions', asUser(user), { method: 'POST', body: '['.repeat(10_000) }), 400, 'PGRST102'],
      ['malformed JSON', () => rest('/rest/v1/sessions', asUser(user), { method: 'POST', body: '{"user_id": ' }), 400, 'PGRST102'],
      ['is.true on text', () => rest('/rest/v1/sessions?title=is.true', asService()), 400, '42804'],
      ['limit=1e20', () => rest('/rest/v1/sessions?limit=1e20', asService()), 400, 'PGRST100'],
      ['limit=-1', () => rest('/rest/v1/sessions?limit=-1', asService()), 400, 'PGRST100'],
      ['title too long', () => rest('/rest/v1/sessions', asUser(user), { method: 'POST', body: JSON.stringify({ user_id: user, title: 'x'.repeat(1001) }) }), 400, '23514'],
      ['too many bind values', () => rest('/rest/v1/sessions', asService(), { method: 'POST', body: JSON.stringify(Array.from({ length: 16_384 }, () => ({ user_id: user, title: 'a', status: 'b', id: randomUUID() }))) }), 413, 'payload_too_large'],
      ['response too large', () => rest(`/rest/v1/sessions?select=title&user_id=eq.${user}`, asService()), 413, 'PT413'],
      ['declared body too large', () => declaredTooLarge(), 413, 'payload_too_large'],
      ['unknown column', () => rest('/rest/v1/sessions?nope=eq.1', asService()), 400, '42703'],
      ['bad uuid', () => rest('/rest/v1/sessions?id=eq.%zz', asService()), 400, '22P02'],
    ];
    // A Content-Length past maxRequestBodyBytes (16 MiB by default), refused before any of the body is sent.
    const declaredTooLarge = async () => {
      const r = await slowRequest('POST', '/rest/v1/sessions', asService(), 16 * 1024 * 1024 + 1).response;
      return new Response(r.body, { status: r.status, headers: r.headers });
    };
    // Enough long titles that an unfiltered read of all titles is over the byte bound.
    await seedSessions(user, 4, (i) => `${i}`.padEnd(900, 'w'));
    for (const [name, send, status, code] of cases) {
      const res = await send();
      const text = await res.text();
      assert.equal(res.status, status, `${name}: ${text.slice(0, 200)}`);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8', name);
      checkShape(text, code);
    }
    // And the 429: hold both of a user's slots mid-body, then ask a third time.
    const held = [0, 1].map(() => slowRequest('POST', '/rest/v1/sessions', asUser(user), 10));
    await Promise.all(held.map((h) => h.continued));
    const res = await rest('/rest/v1/sessions?select=id', asUser(user));
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    await expectError(res, 429, 'too_many_requests');
    for (const h of held) h.socket.write('{"x":1}   ');
    for (const r of await Promise.all(held.map((h) => h.response))) {
      assert.equal(r.status, 400); // column x does not exist
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      checkShape(r.body, '42703');
    }
  });

  it('none of the hostile requests of this file was logged at error level', () => {
    assert.deepEqual(errorLines(), []);
  });
});
