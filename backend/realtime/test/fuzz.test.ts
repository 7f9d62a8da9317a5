// Property-based fuzzing (fast-check) of the server as a client can reach it: the HTTP parser and router, the REST
// query language, request bodies, the WebSocket protocol and realtime filters. The server runs as its own process
// (`node backend/realtime/dist/main.js`, over a fresh database), exactly as `npm start` runs it, so a crash is a
// dead process and not a failed assertion somewhere in this one.
//
// What is fuzzed (one `it` each; generators in test/fuzz/arbitraries.ts, harness in test/fuzz/harness.ts):
//   1. raw request lines and headers over a TCP socket: methods (garbage tokens too), origin-form, absolute-form
//      (hosts such as 999.999.999.999), '*', '//x/y', huge targets, HTTP versions, header names and values (huge,
//      duplicated, control characters, obs-text), line endings;
//   2. REST query strings on /rest/v1/sessions and /rest/v1/session_events: filters on real and fake columns with
//      every operator (not., in lists with quotes, backslashes, commas and parentheses, is.*), select, order,
//      limit/offset, Prefer and Accept headers, GET/HEAD/DELETE/PATCH, tokens of every kind;
//   3. request bodies: POST/PATCH of tables, /rest/v1/rpc/append_session_events (service_role),
//      /realtime/v1/api/broadcast (anon): plausible rows, fc.jsonValue up to depth 100, '['×n, truncated JSON,
//      invalid UTF-8, random content types;
//   4. WebSocket frames (vsn 1.0.0 and 2.0.0): random JSON, arrays of 0-7 elements, envelopes with fields of any
//      type, phx_join with random config and bindings, non-JSON text, invalid UTF-8, random binary frames and
//      well-formed kind-3 headers with random lengths and encodings, frames around the 1 MiB limit;
//   5. realtime filters: postgres_changes joins with generated bindings and filters, as a user.
//
// Oracles, after every case: the process is alive; GET /health answers 200; it logged nothing at level error.
// HTTP: every answer < 500; a 4xx in the JSON error shape of where it came from ({code, message} on /rest/v1,
// {error} on /realtime/v1/api, either for what never reached the router: Node's parser, the upgrade path); one
// answer per request (nothing after a response that closes the connection); a connection closed without an answer
// only for an unparseable request. WebSocket: sockets end open or closed with 1000/1007/1008/1009/1013 (1011 is an
// internal error: a failure), heartbeats are answered, no error reason starts with InternalError, join refusals
// start with a known code, an ok join echoes its bindings and is followed by "Subscribed to PostgreSQL". Every 10
// cases and at the end of each property, a well-behaved supabase-js subscriber (the "side channel") must receive a
// fresh event of its own session within 5 s, with seqs increasing without gaps since it subscribed.
//
// Budget: about 45-60 s for the whole file (numRuns below; each property also stops at a time limit, 59 s in all,
// so a slow machine cannot take it past 120 s). No shrinking (endOnFailure): on a live server it is slow, and the
// first counterexample is printed as generated (long runs as {repeat, times}, tokens as {$token: ...}).
//
// Reproducing a failure: the seed is printed first (`# fuzz.test.ts: seed N`), fast-check prints the
// counterexample with `seed` and `path`. Run
//   FUZZ_SEED=<seed> FUZZ_ONLY=<property number> FUZZ_PATH=<path> node scripts/run-tests.mjs fuzz.test
// FUZZ_SCALE=<factor> multiplies every numRuns and time limit (longer runs, other seeds); FUZZ_DEBUG=1 prints what
// each case got. Each property prints a summary of the outcomes it reached (statuses, reply codes, close codes).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { userToken } from '@mobvibe/realtime-server';
import { TEST_JWT_SECRET } from '@mobvibe/testkit';
import { RealtimeErrorCode } from '../src/realtime/errors.js';
import {
  bodyCase,
  filterCase,
  isMalformed,
  isUpgradeLike,
  materialize,
  querySpec,
  rawHttpCase,
  render,
  renderAll,
  renderBody,
  renderDeep,
  renderQuery,
  renderRawHttp,
  acceptHeader,
  contentType,
  preferHeaders,
  profileHeaders,
  tokenOf,
  tokenSpec,
  wsCase,
  type FrameSpec,
  type RawHttpCase,
} from './fuzz/arbitraries.js';
import {
  buildRequest,
  createTestDatabase,
  isAlive,
  KEYS,
  killProcess,
  latin1,
  makeCast,
  rawRequest,
  seed,
  SideChannel,
  sleep,
  startServerProcess,
  WsProbe,
  type RawOutcome,
  type ServerProcess,
  type TestDatabase,
} from './fuzz/harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const ONLY = process.env.FUZZ_ONLY ? new Set(process.env.FUZZ_ONLY.split(',').map(Number)) : undefined;
const PATH = process.env.FUZZ_PATH || undefined;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
process.stdout.write(`# fuzz.test.ts: seed ${SEED}${PATH ? `, path ${PATH}` : ''}${ONLY ? `, only ${[...ONLY].join(',')}` : ''}, scale ${SCALE}\n`);

const cast = makeCast();
const expiredB = userToken(TEST_JWT_SECRET, cast.userB, { expiresIn: -60 });
let database: TestDatabase | undefined;
let server: ServerProcess | undefined;
let side: SideChannel | undefined;
let errorsSeen = 0;
let casesSinceSide = 0;
/** What the cases of the running property led to (printed with its summary, to see what the generators reach). */
const outcomes = new Map<string, number>();
const note = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
/** FUZZ_DEBUG=1 prints what each case got (to tune generators). */
const debug = (...what: unknown[]) => {
  if (process.env.FUZZ_DEBUG) process.stdout.write(`# debug ${what.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))).join(' ').slice(0, 400)}\n`);
};

const srv = (): ServerProcess => server!;

async function boot(): Promise<void> {
  await side?.stop();
  await killProcess(server);
  server = await startServerProcess(database!.url);
  errorsSeen = 0;
  side = new SideChannel(srv, cast);
  await side.start();
}

/** A property that killed the server must not take the others with it: they get a fresh process. */
async function ensureServer(): Promise<void> {
  if (!server || !isAlive(server)) await boot();
}

before(async () => {
  database = await createTestDatabase('mv_fuzz');
  server = await startServerProcess(database.url);
  await seed(server.url, cast);
  side = new SideChannel(srv, cast);
  await side.start();
});

after(async () => {
  await side?.stop().catch(() => undefined);
  await killProcess(server);
  await database?.drop();
});
// Whatever happens to this process, the server process goes with it.
process.on('exit', () => {
  if (server && isAlive(server)) server.child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------------------------
// Checks shared by every property

function tail(): string {
  return srv().output().slice(-3000);
}

/** After every case: alive, /health 200, nothing logged at level error; the side channel every 10 cases. */
async function afterCase(): Promise<void> {
  const s = srv();
  if (!isAlive(s)) throw new Error(`the server process died (exit code ${s.child.exitCode}, signal ${s.child.signalCode}); its last output:\n${tail()}`);
  const res = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5_000) }).catch((err: Error) => {
    throw new Error(`GET /health failed: ${err.message}`);
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET /health answered ${res.status}: ${body}`);
  const errors = s.errorLogs();
  if (errors.length > errorsSeen) {
    const fresh = errors.slice(errorsSeen);
    errorsSeen = errors.length;
    throw new Error(`the server logged at level error:\n${fresh.join('\n')}`);
  }
  if (++casesSinceSide >= 10) {
    casesSinceSide = 0;
    await side!.stillWorks();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Which error shape a 4xx must have: REST's {code, message}, the broadcast API's {error}, or either (parser, other). */
type Shape = 'rest' | 'rtapi' | 'parser' | 'other';

const short = (s: string, n = 600) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

function checkHttp(outcome: RawOutcome, shape: Shape, opts: { isHead: boolean; mayCloseSilently: boolean }): void {
  if (outcome.kind === 'response' && outcome.status >= 400) {
    const json = parseJsonOrUndefined(outcome.body.toString('utf8'));
    const code = isObject(json) && typeof json.code === 'string' ? ` ${json.code}` : '';
    note(`${outcome.status}${code}`);
    debug(outcome.status, outcome.body.toString('utf8'));
  } else note(outcome.kind === 'response' ? String(outcome.status) : outcome.kind);
  if (outcome.kind === 'timeout') throw new Error(`no answer, and the connection still open 6 s later (after the client half-closed); got so far: ${JSON.stringify(short(outcome.raw))}`);
  if (outcome.kind === 'closed') {
    if (opts.mayCloseSilently) return;
    throw new Error(`the server closed the connection without an answer to a well-formed request; got: ${JSON.stringify(short(outcome.raw))}`);
  }
  const { status } = outcome;
  if (status < 100) throw new Error(`the answer has no valid status line: ${JSON.stringify(short(outcome.raw))}`);
  if (status >= 500) throw new Error(`answered ${status}: ${JSON.stringify(short(outcome.raw))}`);
  const closeDelimited = !('content-length' in outcome.headers) && !/chunked/i.test(outcome.headers['transfer-encoding'] ?? '');
  if (closeDelimited && /HTTP\/1\.[01] \d{3} [^\r\n]*\r\n/.test(outcome.body.toString('latin1'))) {
    throw new Error(`a second HTTP response inside the body of the first (which ends when the connection closes): ${JSON.stringify(short(outcome.raw, 1500))}`);
  }
  if (outcome.trailing) throw new Error(`more bytes after a response that closes the connection (a second answer to one request): ${JSON.stringify(short(outcome.raw, 1500))}`);
  if (status < 400 || opts.isHead) return;
  const text = outcome.body.toString('utf8');
  const json = parseJsonOrUndefined(text);
  const codeMessage = isObject(json) && typeof json.code === 'string' && typeof json.message === 'string';
  const error = isObject(json) && typeof json.error === 'string';
  const what = `${status} with body ${JSON.stringify(short(text))} (content-type ${outcome.headers['content-type'] ?? 'none'})`;
  if (shape === 'rest' && !codeMessage) throw new Error(`a REST 4xx without the JSON error shape {code, message}: ${what}`);
  // A request refused before routing (no Host header, an Expect it cannot meet) has the router's shape wherever
  // it was going.
  const beforeRouting = isObject(json) && (json.code === 'missing_host' || json.code === 'expectation_failed');
  if (shape === 'rtapi' && !error && !beforeRouting) throw new Error(`a /realtime/v1/api 4xx without the JSON shape {error}: ${what}`);
  if (shape === 'parser' && !codeMessage && !error) throw new Error(`a 4xx that no route handler wrote (Node's parser or a built-in answer) without a JSON error {code, message}: ${what}`);
  if (shape === 'other' && /json/i.test(outcome.headers['content-type'] ?? '') && !codeMessage && !error) throw new Error(`a JSON 4xx without a known error shape: ${what}`);
}

/** The path the router sees (absolute-form loses its authority), to know which error shape applies. */
function routedPath(target: string): string {
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  return abs ? target.slice(abs[0].length) : target;
}

function shapeFor(path: string): Shape {
  if (path === '/rest/v1' || path.startsWith('/rest/v1/') || path.startsWith('/rest/v1?')) return 'rest';
  if (path === '/realtime/v1/api' || path.startsWith('/realtime/v1/api/') || path.startsWith('/realtime/v1/api?')) return 'rtapi';
  return 'other';
}

function timeLimited<T>(runs: number, limitMs: number): fc.Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(runs * SCALE)),
    seed: SEED,
    ...(PATH ? { path: PATH } : {}),
    endOnFailure: true,
    includeErrorInReport: true,
    plugins: [fc.interruptAfterTimeLimit(limitMs * Math.max(1, SCALE))],
  };
}

async function runProperty<T>(n: number, name: string, arb: fc.Arbitrary<T>, runs: number, limitMs: number, check: (value: T) => Promise<void>): Promise<void> {
  await ensureServer();
  casesSinceSide = 0;
  outcomes.clear();
  let ran = 0;
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        ran++;
        await check(value);
        await afterCase();
      }),
      timeLimited<[T]>(runs, limitMs),
    );
    await side!.stillWorks();
  } finally {
    const seen = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
    process.stdout.write(`# fuzz property ${n} (${name}): ${ran} cases in ${Date.now() - started} ms; outcomes ${seen}\n`);
  }
}

const wants = (n: number) => !ONLY || ONLY.has(n);
const userHeaders = (token: string): Array<[string, string]> => [
  ['apikey', KEYS.anonKey],
  ['Authorization', `Bearer ${token}`],
];

// ---------------------------------------------------------------------------------------------------------------

describe('fuzz', { concurrency: false }, () => {
  it('1. raw request lines and headers: an answer < 500 in the error shape, or a close only for an unparseable request', { skip: !wants(1), timeout: 120_000 }, async () => {
    await runProperty(1, 'raw HTTP', rawHttpCase, 2000, 10_000, async (c: RawHttpCase) => {
      const isHead = render(c.method) === 'HEAD';
      const outcome = await rawRequest(srv().port, renderRawHttp(c), { isHead, halfCloseMs: 600 });
      // Answers that went through the router carry its CORS headers: they have the error shape of their route.
      // Anything else (Node's parser, the upgrade path) is held to a JSON error, either shape; WebSocket handshake
      // refusals by the ws library itself (plain text) are let through.
      const routed = outcome.kind === 'response' && 'access-control-allow-origin' in outcome.headers;
      const shape: Shape = routed ? shapeFor(routedPath(renderAll(c.target))) : isUpgradeLike(c) ? 'other' : 'parser';
      checkHttp(outcome, shape, { isHead, mayCloseSilently: isMalformed(c) });
    });
  });

  it('2. REST query strings: every answer < 500, every 4xx {code, message}', { skip: !wants(2), timeout: 120_000 }, async () => {
    const arb = fc
      .record({
        method: fc.constantFrom('GET', 'GET', 'HEAD', 'DELETE', 'PATCH'),
        table: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('sessions', 'session_events') }, { weight: 1, arbitrary: fc.constantFrom('nope', 'sessions/', 'rpc/append_session_events', 'Sessions', 'session_seq', '') }),
        prefer: preferHeaders,
        accept: acceptHeader,
        profile: profileHeaders,
        patch: fc.constantFrom<unknown>({ title: 'fuzzed' }, { status: 'done' }, {}, { nope: 1 }, { user_id: cast.userA }, { title: null }, [{ title: 'x' }], { payload: { a: 1 } }),
      })
      .chain((c) => querySpec(cast, c.table === 'session_events' ? 'session_events' : 'sessions').map((query) => ({ ...c, query })))
      .chain((c) =>
        // Writes never run as service_role or the side channel's user (they would delete its session, which is no bug).
        (c.method === 'GET' || c.method === 'HEAD'
          ? tokenSpec(cast, { A: 16, B: 1, service: 1, anon: 1, expiredB: 1, signed: 2, junk: 1 })
          : tokenSpec(cast, { A: 16, B: 1, anon: 1, expiredB: 1, signed: 2, junk: 1 }, true)
        ).map((token) => ({ ...c, token })),
      );
    await runProperty(2, 'REST query strings', arb, 2500, 12_000, async (c) => {
      const headers: Array<[string, string]> = [...userHeaders(tokenOf(c.token, cast, expiredB)), ...c.prefer.map((p): [string, string] => ['Prefer', p]), ...c.profile];
      if (c.accept !== undefined) headers.push(['Accept', c.accept]);
      let body: string | undefined;
      if (c.method === 'PATCH') {
        headers.push(['Content-Type', 'application/json']);
        body = JSON.stringify(c.patch);
      }
      const request = buildRequest({ method: c.method, target: `/rest/v1/${c.table}${renderQuery(c.query)}`, headers: headers.map(([k, v]) => [k, latin1(v)]), ...(body === undefined ? {} : { body }) });
      const outcome = await rawRequest(srv().port, request, { isHead: c.method === 'HEAD' });
      checkHttp(outcome, 'rest', { isHead: c.method === 'HEAD', mayCloseSilently: false });
      if (outcome.kind === 'response' && outcome.status === 200 && c.method === 'GET') {
        // .single() (the object media type) answers one object, .csv() CSV, anything else an array of rows: as
        // the Content-Type says.
        const type = outcome.headers['content-type'] ?? '';
        const text = outcome.body.toString('utf8');
        if (type.startsWith('text/csv')) assert.ok(text.includes('\n'), `a CSV answer has its header line: ${short(text)}`);
        else {
          const json = parseJsonOrUndefined(text);
          const single = type.startsWith('application/vnd.pgrst.object+json');
          assert.ok(single ? isObject(json) : Array.isArray(json), `a 200 to GET must be ${single ? 'one JSON object' : 'a JSON array'}: ${short(text)}`);
        }
        assert.match(outcome.headers['content-range'] ?? '', /^(\d+-\d+|\*)\/(\d+|\*)$/, 'a 200 to GET has a Content-Range');
      }
    });
  });

  it('3. REST and broadcast bodies: every answer < 500 in the error shape', { skip: !wants(3), timeout: 120_000 }, async () => {
    const arb = fc.record({ c: bodyCase(cast), contentType, prefer: preferHeaders });
    await runProperty(3, 'REST bodies', arb, 2500, 10_000, async ({ c, contentType: type, prefer }) => {
      const [method, path, token, shape]: [string, string, string, Shape] =
        c.target === 'sessions.post' ? ['POST', '/rest/v1/sessions', cast.tokenA, 'rest']
        : c.target === 'sessions.patch' ? ['PATCH', '/rest/v1/sessions', cast.tokenA, 'rest']
        : c.target === 'events.post' ? ['POST', '/rest/v1/session_events', KEYS.serviceRoleKey, 'rest']
        : c.target === 'events.patch' ? ['PATCH', '/rest/v1/session_events', cast.tokenA, 'rest']
        : c.target === 'rpc' ? ['POST', '/rest/v1/rpc/append_session_events', KEYS.serviceRoleKey, 'rest']
        : ['POST', '/realtime/v1/api/broadcast', KEYS.anonKey, 'rtapi'];
      const headers: Array<[string, string]> = [...userHeaders(token)];
      if (shape === 'rest') headers.push(...prefer.map((p): [string, string] => ['Prefer', latin1(p)]));
      if (type !== undefined) headers.push(['Content-Type', type]);
      const body = renderBody(c.body);
      const request = buildRequest({ method, target: `${path}${c.query}`, headers, ...(body === undefined ? {} : { body }) });
      checkHttp(await rawRequest(srv().port, request), shape, { isHead: false, mayCloseSilently: false });
    });
  });

  const CLOSE_CODES = new Set([1000, 1007, 1008, 1009, 1013]);
  let probeRef = 0;

  /** Error replies and system errors in what a socket received: none may be an InternalError; replies are ok or error. */
  function checkFrames(probe: WsProbe): void {
    if (probe.problems.length) throw new Error(probe.problems.join('\n'));
    for (const f of probe.frames) {
      if (f.event === 'phx_reply') {
        const status = f.payload?.status;
        if (status === 'ok') note('reply ok');
        if (status !== 'ok' && status !== 'error') throw new Error(`a phx_reply with status ${JSON.stringify(status)}: ${JSON.stringify(f)}`);
        if (status === 'error') {
          const reason = f.payload?.response?.reason;
          note(`reply ${String(reason).split(':')[0]}`);
          debug(reason);
          if (typeof reason !== 'string') throw new Error(`an error reply without a reason string: ${JSON.stringify(f)}`);
          if (reason.startsWith('InternalError')) throw new Error(`an error reply with an internal error: ${JSON.stringify(f)}`);
        }
      }
      if (f.event === 'system' && f.payload?.status === 'error' && String(f.payload?.message ?? '').startsWith('InternalError')) {
        throw new Error(`a system message with an internal error: ${JSON.stringify(f)}`);
      }
    }
  }

  function checkClose(probe: WsProbe): void {
    const closed = probe.closedWith;
    note(closed ? `closed ${closed.code}` : 'open');
    if (!closed) return;
    if (closed.code === 1011) throw new Error(`the server closed the socket with 1011 (internal error): ${JSON.stringify(closed.reason)}`);
    if (!CLOSE_CODES.has(closed.code)) throw new Error(`the socket was closed with ${closed.code} ${JSON.stringify(closed.reason)}; expected one of ${[...CLOSE_CODES].join(', ')}`);
  }

  function wsUrl(apikey: string, vsn: string): string {
    return `ws://127.0.0.1:${srv().port}/realtime/v1/websocket?apikey=${encodeURIComponent(apikey)}&vsn=${vsn}`;
  }

  function sendFrame(probe: WsProbe, f: FrameSpec): string | undefined {
    const m = (v: unknown) => materialize(v, cast, expiredB);
    if ('push' in f) {
      const { topic, ref, joinRef, event, payload, form } = f.push;
      const p = m(payload);
      probe.sendText(JSON.stringify(form === 'array' ? [joinRef, ref, topic, event, p] : { join_ref: joinRef, ref, topic, event, payload: p }));
    } else if ('json' in f) probe.sendText(JSON.stringify(m(f.json)));
    else if ('array' in f) probe.sendText(JSON.stringify(f.array));
    else if ('envelope' in f) probe.sendText(JSON.stringify(m(f.envelope)));
    else if ('join' in f) {
      const { topic, ref, joinRef, payload, form } = f.join;
      const p = m(payload);
      probe.sendText(JSON.stringify(form === 'array' ? [joinRef, ref, topic, 'phx_join', p] : { join_ref: joinRef, ref, topic, event: 'phx_join', payload: p }));
      return typeof ref === 'string' || typeof ref === 'number' ? String(ref) : undefined;
    } else if ('text' in f) probe.sendText(f.text);
    else if ('deep' in f) probe.sendText(renderDeep(f.deep));
    else if ('invalidUtf8' in f) probe.sendText(Buffer.from(f.invalidUtf8));
    else if ('binary' in f) probe.sendBinary(Buffer.from(f.binary));
    else if ('kind3' in f) {
      const { lengths, encoding, parts, body, declaredExtra } = f.kind3;
      const frame = Buffer.concat([Buffer.from([3, ...lengths, encoding]), ...parts.map((p) => Buffer.from(p, 'utf8')), Buffer.from(body, 'utf8')]);
      probe.sendBinary(frame.subarray(0, Math.max(7, frame.length - declaredExtra)));
    } else {
      const filler = 'x'.repeat(Math.max(0, f.big - 80));
      probe.sendText(JSON.stringify(['1', '1', 'realtime:room', 'broadcast', { type: 'broadcast', event: 'big', payload: { s: filler } }]));
    }
    return undefined;
  }

  it('4. WebSocket frames: sockets stay open or close cleanly, no internal errors', { skip: !wants(4), timeout: 120_000 }, async () => {
    await runProperty(4, 'WebSocket frames', wsCase(cast), 900, 15_000, async (c) => {
      const opened = await WsProbe.open(wsUrl(tokenOf(c.apikey, cast, expiredB), c.vsn), c.vsn);
      if (!(opened instanceof WsProbe)) {
        note(`upgrade ${opened.refused}`);
        if (opened.refused >= 500) throw new Error(`upgrade refused with ${opened.refused}: ${opened.body}`);
        return;
      }
      const probe = opened;
      try {
        const joins: string[] = [];
        for (const f of c.frames) {
          const ref = sendFrame(probe, f);
          if (ref !== undefined) joins.push(ref);
        }
        const ref = `probe-${++probeRef}`;
        probe.push(null, ref, 'phoenix', 'heartbeat', {});
        const reply = await probe.next((f) => f.event === 'phx_reply' && f.ref === ref, 5_000);
        if (!reply && !probe.closedWith) throw new Error('no reply to a heartbeat within 5 s, and the socket is still open');
        // Join replies may come after the heartbeat's (they query the database): give them a moment.
        const deadline = Date.now() + 1_000;
        while (!probe.closedWith && Date.now() < deadline && !joins.every((r) => probe.frames.some((f) => f.event === 'phx_reply' && String(f.ref) === r))) await sleep(5);
        checkClose(probe);
        checkFrames(probe);
      } finally {
        await probe.terminate();
      }
    });
  });

  const KNOWN_CODES = Object.values(RealtimeErrorCode).filter((code) => code !== RealtimeErrorCode.Internal);

  it('5. realtime filters: joins are ok or refused with a known code, never InternalError', { skip: !wants(5), timeout: 120_000 }, async () => {
    await runProperty(5, 'realtime filters', filterCase(cast), 1200, 12_000, async (c) => {
      const opened = await WsProbe.open(wsUrl(KEYS.anonKey, c.vsn), c.vsn);
      if (!(opened instanceof WsProbe)) throw new Error(`upgrade with the anon key refused: ${opened.refused} ${opened.body}`);
      const probe = opened;
      try {
        const ref = `join-${++probeRef}`;
        const payload: Record<string, unknown> = {
          config: { broadcast: { ack: false, self: false }, presence: { key: '' }, private: false, postgres_changes: c.bindings },
        };
        if (c.accessToken !== undefined) payload.access_token = tokenOf(c.accessToken, cast, expiredB);
        probe.push(ref, ref, c.topic, 'phx_join', payload);
        const reply = await probe.next((f) => f.event === 'phx_reply' && f.ref === ref, 5_000);
        debug('join', c.bindings, reply?.payload?.response?.reason ?? reply?.payload?.status);
        checkClose(probe);
        if (!reply) throw new Error(`no reply to the join within 5 s${probe.closedWith ? ` (socket closed: ${JSON.stringify(probe.closedWith)})` : ''}`);
        const { status, response } = reply.payload ?? {};
        if (status === 'ok') {
          const echoed = response?.postgres_changes;
          assert.ok(Array.isArray(echoed) && echoed.length === c.bindings.length, `an ok join must echo each binding: ${JSON.stringify(reply.payload)}`);
          for (const b of echoed) assert.ok(Number.isInteger(b.id) && b.id > 0, `binding ids are positive integers: ${JSON.stringify(b)}`);
          const subscribed = await probe.next((f) => f.event === 'system' && f.topic === c.topic, 3_000);
          assert.ok(subscribed, 'an ok postgres_changes join is followed by the system "Subscribed to PostgreSQL" message');
          assert.equal(subscribed.payload?.status, 'ok', `system message after an ok join: ${JSON.stringify(subscribed.payload)}`);
        } else {
          assert.equal(status, 'error', `a join reply is ok or error: ${JSON.stringify(reply.payload)}`);
          const reason = response?.reason;
          assert.equal(typeof reason, 'string', `a refused join has a reason: ${JSON.stringify(reply.payload)}`);
          assert.ok(!reason.startsWith('InternalError'), `the join failed with an internal error: ${reason}`);
          assert.ok(KNOWN_CODES.some((code) => reason.startsWith(`${code}:`)), `the refusal starts with a known code (${KNOWN_CODES.join(', ')}): ${reason}`);
        }
        checkFrames(probe);
      } finally {
        await probe.terminate();
      }
    });
  });
});
