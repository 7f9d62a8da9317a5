/**
 * The Socket.IO peer's subscriber and emitter, as the bench workers use them.
 *
 * @example
 * const sub = new SocketIoSubscriber(peerUrl, 'any-token');
 * sub.onEvent = (e) => record(e);
 * await sub.connect();
 * await sub.joinSession(sessionId, accessToken);
 * await socketIoEmit(peerUrl, sessionId, nowMs());
 */
import http from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { nowMs } from '../../lib/stats.js';
import type { ReceivedEvent, Subscriber } from '../../lib/types.js';
import { decodeJoinAck, decodeWireEvent, type EmitBatch } from './protocol.js';

const CONNECT_TIMEOUT_MS = 30_000;
const JOIN_TIMEOUT_MS = 30_000;

/** What happened across reconnects, for the report: recovery is up to the server's adapter. */
export interface ReconnectStats {
  reconnects: number;
  /** Reconnects where the server restored the session (socket.recovered), replaying missed packets. */
  recovered: number;
  /** Reconnects where it did not, so the rooms were joined again and the events in between stay missed. */
  rejoined: number;
  rejoinFailures: number;
  malformed: number;
  lastError: string;
}

/**
 * One Socket.IO connection (websocket transport, socket.io's default reconnection) subscribed to sessions.
 * After a reconnect the server did not recover, it re-joins its rooms, as an app would; nothing fetches the
 * events emitted while it was away.
 */
export class SocketIoSubscriber implements Subscriber {
  private socket: Socket | undefined;
  private connectedOnce = false;
  private readonly sessions = new Map<string, string>(); // sessionId → access token
  readonly stats: ReconnectStats = { reconnects: 0, recovered: 0, rejoined: 0, rejoinFailures: 0, malformed: 0, lastError: '' };
  onEvent: (e: ReceivedEvent) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;

  constructor(private readonly url: string, private readonly token: string, private readonly now: () => number = nowMs) {}

  /** Resolves on the first connection; rejects if the server refuses it or it takes over 30 s. */
  connect(): Promise<void> {
    const socket = io(this.url, { transports: ['websocket'], auth: { token: this.token }, reconnection: true, forceNew: true });
    this.socket = socket;
    socket.on('event', (raw: unknown) => this.receive(raw));
    socket.on('connect', () => this.connected());
    socket.on('disconnect', (reason) => this.onClose(reason === 'io client disconnect' || reason === 'io server disconnect' ? 1000 : 1006, reason));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`socket.io connect to ${this.url} timed out after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.disconnect();
        reject(err);
      };
      socket.once('connect', () => (clearTimeout(timer), resolve()));
      // socket.active is false when the server refused the connection (a middleware error): no retry will follow.
      socket.on('connect_error', (err) => !socket.active && !this.connectedOnce && fail(new Error('socket.io connection refused', { cause: err })));
    });
  }

  /** Joins room `session:<id>`; resolves on the server's ack. */
  async joinSession(sessionId: string, accessToken: string): Promise<void> {
    if (!this.socket) throw new Error('tried to join before connecting. Use connect() first');
    this.sessions.set(sessionId, accessToken);
    await this.join(sessionId, accessToken);
  }

  /** Drops the connection abruptly (the TCP socket under the WebSocket, no close handshake), like a network
   *  failure; socket.io then reconnects by itself. Falls back to an engine-level close. */
  terminate(): void {
    const transport = this.socket?.io.engine?.transport as unknown as { ws?: { terminate?: () => void } } | undefined;
    if (transport?.ws?.terminate) transport.ws.terminate();
    else this.socket?.io.engine?.close();
  }

  close(): void {
    this.socket?.disconnect();
  }

  private async join(sessionId: string, accessToken: string): Promise<void> {
    const ack = decodeJoinAck(await this.socket!.timeout(JOIN_TIMEOUT_MS).emitWithAck('join', { sessionId, token: accessToken }));
    if (!ack.ok) throw new Error(`join refused: ${ack.error}`);
  }

  private connected(): void {
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      return;
    }
    this.stats.reconnects++;
    if (this.socket!.recovered) {
      this.stats.recovered++;
      return;
    }
    this.stats.rejoined++;
    for (const [sessionId, token] of this.sessions) {
      this.join(sessionId, token).catch((err: unknown) => {
        this.stats.rejoinFailures++;
        this.stats.lastError = String((err as Error).message ?? err);
      });
    }
  }

  private receive(raw: unknown): void {
    const receivedAt = this.now();
    try {
      const e = decodeWireEvent(raw);
      this.onEvent({ sessionId: e.sessionId, seq: e.seq, commitMs: e.commitMs, emitMs: Number(e.payload.output), receivedAt });
    } catch (err) {
      this.stats.malformed++;
      this.stats.lastError = (err as Error).message;
    }
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** POSTs one body to the peer's /emit; resolves on 200, rejects with the status and the server's message. */
export function postEmit(baseUrl: string, body: EmitBatch | EmitBatch[]): Promise<void> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}/emit`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let answer = '';
      res.setEncoding('utf8').on('data', (d: string) => (answer += d));
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(Object.assign(new Error(`peer /emit answered ${res.statusCode}: ${answer}`), { status: res.statusCode }))));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(text);
  });
}

const benchEvent = (emitMs: number) => ({ type: 'terminal', data: { command: 'bench', output: String(emitMs) } });

/** Emits bench `terminal` events (one per emitMs, payload.output = String(emitMs)) to one session, in one request. */
export function socketIoEmit(baseUrl: string, sessionId: string, emitMs: number | number[]): Promise<void> {
  const times = Array.isArray(emitMs) ? emitMs : [emitMs];
  return postEmit(baseUrl, { sessionId, events: times.map(benchEvent) });
}

/**
 * Optional group commit for the peer, mirroring the worker SDK's: emits made within `maxDelayMs` of each other
 * (any sessions) share one request and one INSERT. Off by default, as in a plain Socket.IO app.
 */
export class SocketIoEmitter {
  private queue: Array<{ sessionId: string; emitMs: number; done: (err?: unknown) => void }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly baseUrl: string, private readonly opts: { maxDelayMs: number; maxEvents: number } = { maxDelayMs: 0, maxEvents: 1000 }) {}

  emit(sessionId: string, emitMs: number): Promise<void> {
    if (this.opts.maxDelayMs <= 0) return socketIoEmit(this.baseUrl, sessionId, emitMs);
    return new Promise((resolve, reject) => {
      this.queue.push({ sessionId, emitMs, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.queue.length >= this.opts.maxEvents) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.maxDelayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.queue;
    this.queue = [];
    const bySession = new Map<string, number[]>();
    for (const i of items) {
      const times = bySession.get(i.sessionId);
      if (times) times.push(i.emitMs);
      else bySession.set(i.sessionId, [i.emitMs]);
    }
    const body = [...bySession].map(([sessionId, times]) => ({ sessionId, events: times.map(benchEvent) }));
    postEmit(this.baseUrl, body).then(() => items.forEach((i) => i.done()), (err: unknown) => items.forEach((i) => i.done(err)));
  }
}
