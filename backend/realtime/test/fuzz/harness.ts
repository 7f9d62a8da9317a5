// The fuzz suite's harness (not a test file): the server under test as its own process, a raw HTTP client that
// sends exactly the bytes it is given, a raw WebSocket probe, the side-channel subscriber and the per-case checks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { projectKeys, userToken } from '@mobvibe/realtime-server';
import { createTestDatabase, freePort, supabaseClient, TEST_JWT_SECRET, type TestDatabase } from '@mobvibe/testkit';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MAIN_JS = path.resolve(here, '..', '..', 'dist', 'main.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const KEYS = projectKeys(TEST_JWT_SECRET);

/** The fixed cast of the suite: whose token does what (see fuzz.test.ts). */
export interface Cast {
  /** REST fuzzing user: owns a few sessions it may patch and delete. */
  userA: string;
  tokenA: string;
  sessionsA: string[];
  /** Realtime fuzzing user: owns sessions nobody's REST requests can touch. */
  userB: string;
  tokenB: string;
  sessionsB: string[];
  /** The side channel's user and its one session. */
  userS: string;
  tokenS: string;
  sessionS: string;
}

export function makeCast(): Cast {
  const userA = randomUUID();
  const userB = randomUUID();
  const userS = randomUUID();
  return {
    userA,
    tokenA: userToken(TEST_JWT_SECRET, userA, { expiresIn: 3600 }),
    sessionsA: [randomUUID(), randomUUID(), randomUUID()],
    userB,
    tokenB: userToken(TEST_JWT_SECRET, userB, { expiresIn: 3600 }),
    sessionsB: [randomUUID(), randomUUID()],
    userS,
    tokenS: userToken(TEST_JWT_SECRET, userS, { expiresIn: 3600 }),
    sessionS: randomUUID(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The server process

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything it printed (stdout and stderr). */
  output(): string;
  /** Its log lines at level error (50) or above, in order. */
  errorLogs(): string[];
}

/** Spawns `node dist/main.js` over `databaseUrl` and waits for the banner (the last line it prints is the service_role one). */
export async function startServerProcess(databaseUrl: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      MOBVIBE_DEMO: '0',
      // The fuzz sends as fast as it can from one address: throttling it would only cut the cases per second.
      // These budgets have tests of their own (rest-write-budget, realtime-budgets).
      MOBVIBE_MAX_ROWS_WRITTEN_PER_SECOND: '0',
      MOBVIBE_RT_MAX_INBOUND_BYTES_PER_SECOND: String(2 ** 40),
      MOBVIBE_RT_MAX_INBOUND_BYTES_PER_SECOND_PER_USER: String(2 ** 40),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let pending = '';
  const errors: string[] = [];
  const onData = (d: Buffer) => {
    const text = d.toString('utf8');
    out += text;
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        if ((JSON.parse(line) as { level?: number }).level! >= 50) errors.push(line.slice(0, 4000));
      } catch {
        /* not a log line */
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const deadline = Date.now() + 60_000;
  while (!out.includes('service_role key:')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start within 60 s:\n${out}`);
    }
    await sleep(25);
  }
  return { child, port, url: `http://127.0.0.1:${port}`, output: () => out, errorLogs: () => errors };
}

export const isAlive = (p: ServerProcess) => p.child.exitCode === null && p.child.signalCode === null;

export async function killProcess(p: ServerProcess | undefined): Promise<void> {
  if (!p || !isAlive(p)) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await Promise.race([exited, sleep(3_000)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP: bytes in, one parsed response (or what happened instead) out

export type RawOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: Buffer; raw: string; trailing?: string }
  | { kind: 'closed'; raw: string }
  | { kind: 'timeout'; raw: string };

interface Parsed {
  status: number;
  headers: Record<string, string>;
  bodyStart: number;
}

function parseHead(buf: Buffer, from: number): Parsed | undefined {
  const end = buf.indexOf('\r\n\r\n', from, 'latin1');
  if (end < 0) return undefined;
  const lines = buf.toString('latin1', from, end).split('\r\n');
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(lines[0] ?? '');
  if (!m) return { status: -1, headers: {}, bodyStart: end + 4 };
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(m[1]), headers, bodyStart: end + 4 };
}

/** The chunked body from `at`, or undefined while its last chunk has not arrived. */
function dechunk(buf: Buffer, at: number): Buffer | undefined {
  const parts: Buffer[] = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, eol), 16);
    if (!Number.isFinite(size)) return Buffer.concat(parts); // garbage: take what there is
    if (size === 0) return buf.indexOf('\r\n', eol + 2, 'latin1') >= 0 ? Buffer.concat(parts) : undefined;
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** One complete response in `buf` (skipping 1xx interim responses), or undefined while more is needed. */
function complete(buf: Buffer, isHead: boolean, eof: boolean): RawOutcome | undefined {
  let from = 0;
  for (;;) {
    const head = parseHead(buf, from);
    if (!head) return undefined;
    if (head.status === -1) return { kind: 'response', status: -1, headers: {}, body: buf.subarray(from), raw: buf.toString('latin1') };
    if (head.status >= 100 && head.status < 200 && head.status !== 101) {
      from = head.bodyStart;
      continue;
    }
    const done = (body: Buffer): RawOutcome => ({ kind: 'response', status: head.status, headers: head.headers, body, raw: buf.toString('latin1') });
    if (isHead || head.status === 101 || head.status === 204 || head.status === 304) return done(Buffer.alloc(0));
    if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
      const body = dechunk(buf, head.bodyStart);
      return body ? done(body) : eof ? done(buf.subarray(head.bodyStart)) : undefined;
    }
    const length = head.headers['content-length'];
    if (length !== undefined) {
      const n = Number(length);
      if (buf.length - head.bodyStart >= n) return done(buf.subarray(head.bodyStart, head.bodyStart + n));
      return eof ? done(buf.subarray(head.bodyStart)) : undefined;
    }
    return eof ? done(buf.subarray(head.bodyStart)) : undefined;
  }
}

/** The byte length of the first complete (final) response in `buf`, interim responses included. */
function responseLength(buf: Buffer, isHead: boolean): number {
  let from = 0;
  for (;;) {
    const head = parseHead(buf, from)!;
    if (head.status >= 100 && head.status < 200 && head.status !== 101) {
      from = head.bodyStart;
      continue;
    }
    if (isHead || head.status === 204 || head.status === 304) return head.bodyStart;
    if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
      const end = buf.indexOf('\r\n0\r\n\r\n', head.bodyStart - 2, 'latin1');
      return end < 0 ? buf.length : end + 7;
    }
    const length = head.headers['content-length'];
    return length === undefined ? buf.length : Math.min(buf.length, head.bodyStart + Number(length));
  }
}

/**
 * Sends `request` as it is over a fresh TCP connection and reads one response. If nothing has come back after
 * `halfCloseMs` the client half-closes (the request may have announced a body it never sent); after
 * `timeoutMs` it gives up.
 */
export function rawRequest(port: number, request: Buffer, opts: { isHead?: boolean; halfCloseMs?: number; timeoutMs?: number } = {}): Promise<RawOutcome> {
  const { isHead = false, halfCloseMs = 1_500, timeoutMs = 6_000 } = opts;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (r: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(halfClose);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(r);
    };
    socket.on('error', () => undefined); // a reset is an outcome like any other: 'closed'
    socket.on('connect', () => socket.write(request));
    // A response that closes the connection must be the last thing on it: what follows it is collected as
    // `trailing` (a second answer to one request would be a bug).
    let closing: { r: Extract<RawOutcome, { kind: 'response' }>; length: number } | undefined;
    const finishClosing = () => {
      const c = closing!;
      const rest = buf.subarray(c.length);
      // A HEAD that the parser refused, or that the upgrade path answered, gets a body (neither treats it as a
      // HEAD): that is its body, not a second answer.
      if (isHead && !/^HTTP\/1/.test(rest.toString('latin1'))) return finish({ ...c.r, body: rest, trailing: '' });
      finish({ ...c.r, trailing: rest.toString('latin1') });
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (closing) return;
      const r = complete(buf, isHead, false);
      if (!r) return;
      if (r.kind === 'response' && r.status !== 101 && /close/i.test(r.headers.connection ?? '')) {
        closing = { r, length: responseLength(buf, isHead) };
        setTimeout(finishClosing, 300);
      } else finish(r);
    });
    socket.on('close', () => (closing ? finishClosing() : finish(complete(buf, isHead, true) ?? { kind: 'closed', raw: buf.toString('latin1') })));
    const halfClose = setTimeout(() => socket.end(), halfCloseMs);
    const giveUp = setTimeout(() => finish({ kind: 'timeout', raw: buf.toString('latin1') }), timeoutMs);
  });
}

export interface HttpRequestSpec {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body?: Buffer | string;
}

/** A well-formed HTTP/1.1 request (Content-Length from the body), as latin1 bytes; `body` strings go as UTF-8. */
export function buildRequest(spec: HttpRequestSpec): Buffer {
  const body = spec.body === undefined ? undefined : Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body, 'utf8');
  const lines = [`${spec.method} ${spec.target} HTTP/1.1`, 'Host: 127.0.0.1', ...spec.headers.map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body ? Buffer.concat([head, body]) : head;
}

/** Header values as latin1 bytes: anything outside latin1 goes as its UTF-8 bytes. */
export const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

// ---------------------------------------------------------------------------------------------------------------
// A raw WebSocket probe (records every frame; a frame that is not JSON is recorded as a failure, not thrown)

export interface WsFrame {
  joinRef: unknown;
  ref: unknown;
  topic: unknown;
  event: unknown;
  payload: any;
}

export class WsProbe {
  readonly frames: WsFrame[] = [];
  readonly binaryFrames: Buffer[] = [];
  readonly problems: string[] = [];
  closedWith: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket, readonly vsn: string) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return void this.binaryFrames.push(data);
      try {
        const v = JSON.parse(data.toString('utf8')) as any;
        if (Array.isArray(v)) this.frames.push({ joinRef: v[0], ref: v[1], topic: v[2], event: v[3], payload: v[4] });
        else this.frames.push({ joinRef: v.join_ref, ref: v.ref, topic: v.topic, event: v.event, payload: v.payload });
      } catch {
        this.problems.push(`server sent a text frame that is not JSON: ${JSON.stringify(data.toString('utf8').slice(0, 300))}`);
      }
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      }),
    );
  }

  /** Opens a socket; resolves to the probe, or to the HTTP status the upgrade was refused with. */
  static open(url: string, vsn: string): Promise<WsProbe | { refused: number; body: string }> {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsProbe(ws, vsn)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ refused: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ refused: res.statusCode ?? 0, body }));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendText(text: string | Buffer): void {
    if (this.isOpen) this.ws.send(text, { binary: false });
  }

  sendBinary(data: Buffer): void {
    if (this.isOpen) this.ws.send(data, { binary: true });
  }

  /** Sends `[joinRef, ref, topic, event, payload]` in this socket's form. */
  push(joinRef: string | null, ref: string | null, topic: string, event: string, payload: unknown): void {
    this.sendText(JSON.stringify(this.vsn === '2.0.0' ? [joinRef, ref, topic, event, payload] : { join_ref: joinRef, ref, topic, event, payload }));
  }

  /** The first frame matching `pred`, waiting up to `timeoutMs`; undefined on timeout or when the socket closed first. */
  async next(pred: (f: WsFrame) => boolean, timeoutMs: number): Promise<WsFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closedWith || Date.now() > deadline) return undefined;
      await sleep(5);
    }
  }

  /** Closes the client side at once and waits (briefly) for the close event. */
  async terminate(): Promise<void> {
    this.ws.terminate();
    await Promise.race([this.closed, sleep(1_000)]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The side channel: a well-behaved supabase-js subscriber of its own session

export class SideChannel {
  readonly seqs: number[] = [];
  private client: SupabaseClient | undefined;
  private channel: RealtimeChannel | undefined;
  private probes = 0;
  /** The seq the first delivery must have (the session's last seq + 1 when the subscription started). */
  private firstExpected = 1;

  constructor(private readonly server: () => ServerProcess, private readonly cast: Cast) {}

  async start(): Promise<void> {
    await this.stop();
    const { url } = this.server();
    this.seqs.length = 0;
    const last = await restJson<Array<{ seq: number }>>(url, `/rest/v1/session_events?select=seq&session_id=eq.${this.cast.sessionS}&order=seq.desc&limit=1`, KEYS.serviceRoleKey);
    this.firstExpected = (last[0]?.seq ?? 0) + 1;
    const client = supabaseClient(url, KEYS.anonKey, this.cast.tokenS);
    this.client = client;
    await new Promise((r) => setImmediate(r)); // supabase-js applies the access token asynchronously
    const channel = client
      .channel(`side:${this.cast.sessionS}`)
      .on('postgres_changes' as never, { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${this.cast.sessionS}` } as never, (p: { new: { seq: number } }) => {
        this.seqs.push(p.new.seq);
      });
    this.channel = channel;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('side channel: no SUBSCRIBED within 10 s')), 10_000);
      channel.subscribe((status, err) => {
        if (status === 'SUBSCRIBED') {
          clearTimeout(timer);
          resolve();
        } else if (status === 'CHANNEL_ERROR' && err?.message?.includes('no access_token')) {
          // realtime-js's first join can go out before it has the token; it retries by itself.
        } else {
          clearTimeout(timer);
          reject(new Error(`side channel: ${status} ${err?.message ?? ''}`));
        }
      });
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (this.channel) await client.removeChannel(this.channel).catch(() => undefined);
    this.channel = undefined;
    client.realtime.disconnect();
  }

  /**
   * Inserts one event into the side session over REST (service_role) and waits (at most 5 s) until the subscriber
   * has it; every seq it received runs on from the previous one, without gaps. Throws, saying what went wrong.
   */
  async stillWorks(): Promise<void> {
    const n = ++this.probes;
    const { url } = this.server();
    const res = await fetch(`${url}/rest/v1/session_events`, {
      method: 'POST',
      headers: { apikey: KEYS.serviceRoleKey, authorization: `Bearer ${KEYS.serviceRoleKey}`, 'content-type': 'application/json', prefer: 'return=representation' },
      body: JSON.stringify({ session_id: this.cast.sessionS, event_type: 'thinking', payload: { iteration: n, toolsUsed: [] } }),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`side channel: REST insert answered ${res.status}: ${text.slice(0, 500)}`);
    const seq = (JSON.parse(text) as Array<{ seq: number }>)[0]!.seq;
    const deadline = Date.now() + 5_000;
    while (!this.seqs.includes(seq)) {
      if (Date.now() > deadline) throw new Error(`side channel: seq ${seq} (probe ${n}) not received within 5 s; received ${JSON.stringify(this.seqs.slice(-20))}`);
      await sleep(5);
    }
    this.checkSeqs();
  }

  private checkSeqs(): void {
    const s = this.seqs;
    if (s.length > 0 && s[0] !== this.firstExpected) throw new Error(`side channel: first seq received is ${s[0]}, expected ${this.firstExpected}`);
    for (let i = 1; i < s.length; i++) {
      if (s[i] !== s[i - 1]! + 1) throw new Error(`side channel: seqs not strictly increasing without gaps at ${i}: ...${JSON.stringify(s.slice(Math.max(0, i - 5), i + 5))}`);
    }
  }
}

/** GET a REST path as `key` and parse the JSON; throws on a non-2xx answer. */
export async function restJson<T>(url: string, pathAndQuery: string, key: string, token = key): Promise<T> {
  const res = await fetch(`${url}${pathAndQuery}`, { headers: { apikey: key, authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${pathAndQuery}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Creates the cast's sessions (as service_role). */
export async function seed(url: string, cast: Cast): Promise<void> {
  const rows = [
    ...cast.sessionsA.map((id) => ({ id, user_id: cast.userA, title: 'fuzz A', status: 'running' })),
    ...cast.sessionsB.map((id) => ({ id, user_id: cast.userB, title: 'fuzz B', status: 'running' })),
    { id: cast.sessionS, user_id: cast.userS, title: 'side channel', status: 'running' },
  ];
  const res = await fetch(`${url}/rest/v1/sessions`, {
    method: 'POST',
    headers: { apikey: KEYS.serviceRoleKey, 'content-type': 'application/json' },
    body: JSON.stringify(rows),
  });
  if (res.status !== 201) throw new Error(`seeding sessions: ${res.status} ${await res.text()}`);
}

export { createTestDatabase, type TestDatabase };
