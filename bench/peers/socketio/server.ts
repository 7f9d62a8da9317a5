// The Socket.IO peer server: Socket.IO 4 + @socket.io/postgres-adapter + connection state recovery, persisting
// to the same PostgreSQL as MobVibe Realtime. Written the way a Socket.IO app would be: store the rows, then
// io.to(room).emit() each one.
//
//   PORT=0 DATABASE_URL=postgres://… node --import tsx bench/peers/socketio/server.ts
//   → prints {"port": N} on stdout once listening; SIGTERM/SIGINT stop it.
//
// Env: PORT (0 = pick one), DATABASE_URL (required; superuser, same database as ours), PG_POOL_MAX (default 20:
// inserts and the adapter's per-broadcast pg_notify share it), PEER_ADAPTER (default 'postgres'; 'memory' swaps
// in socket.io's in-memory SessionAwareAdapter: a single-node control used by selfcheck.ts, not the peer).
//
// Note on recovery: @socket.io/postgres-adapter 0.5.0 extends ClusterAdapterWithHeartbeat, whose
// persistSession()/restoreSession() are the in-memory no-ops (restoreSession returns null), and its doPublish()
// returns "" ("connection state recovery is not currently supported"). So with this adapter every reconnect has
// socket.recovered === false, whatever connectionStateRecovery says. We keep the adapter: it is what users run.
//
// Note on order: the adapter's broadcast() awaits a `select pg_notify(…)` on the pg Pool before delivering
// locally, so consecutive io.to(room).emit() calls race over different pool connections and reach clients out
// of seq order, even for the rows of one request (selfcheck.ts shows it). Also what users get; not corrected.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { Server } from 'socket.io';
import { nowMs } from '../../lib/stats.js';
import { decodeEmitBody, PeerProtocolError, room, type EmitBatch, type JoinAck, type WireEvent } from './protocol.js';

const MAX_BODY_BYTES = 8 * 1024 * 1024;

interface StoredRow {
  session_id: string;
  seq: string;
  event_type: string;
  payload: Record<string, unknown>;
}

/**
 * Stores every event of every batch with one multi-row INSERT (one transaction) and reads PostgreSQL's own
 * commit timestamp of it, all in ONE round trip: a simple-protocol query `insert …; commit; select
 * pg_xact_commit_timestamp(xmin) …`. (The INSERT runs in the implicit transaction, which the COMMIT ends; on
 * error the rest is skipped and the implicit transaction rolls back.) Values are inlined with escapeLiteral, as
 * the simple protocol takes no parameters. Rows are ordered by session so concurrent multi-session batches take
 * the sessions' row locks in one order and cannot deadlock.
 */
async function store(pool: pg.Pool, batches: EmitBatch[]): Promise<{ rows: StoredRow[]; commitMs: number }> {
  const values: string[] = [];
  let firstId = '';
  for (const b of [...batches].sort((x, y) => (x.sessionId < y.sessionId ? -1 : x.sessionId > y.sessionId ? 1 : 0))) {
    const sessionId = pg.escapeLiteral(b.sessionId);
    for (const e of b.events) {
      const id = randomUUID();
      firstId ||= id;
      values.push(`('${id}', ${sessionId}, ${pg.escapeLiteral(e.type)}, ${pg.escapeLiteral(JSON.stringify(e.data))}::jsonb)`);
    }
  }
  const results = (await pool.query(
    `insert into public.session_events (id, session_id, event_type, payload) values ${values.join(',')}
     returning session_id, seq, event_type, payload;
     commit;
     select case when current_setting('track_commit_timestamp')::bool then extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000 end as ms
       from public.session_events where id = '${firstId}'`,
  )) as unknown as [pg.QueryResult<StoredRow>, pg.QueryResult, pg.QueryResult<{ ms: string | null }>];
  const rows = results[0].rows;
  // Without track_commit_timestamp (the bench's PostgreSQL: our server reads commit times from the WAL) the
  // function would fail; then the time the result arrived stands in (a little later than the commit: the peer's
  // latencies come out at most that much shorter, never longer).
  const dbMs = results[2].rows[0]?.ms;
  const commitMs = dbMs == null ? nowMs() : Number(dbMs);
  rows.sort((a, b) => (a.session_id === b.session_id ? Number(a.seq) - Number(b.seq) : a.session_id < b.session_id ? -1 : 1));
  return { rows, commitMs };
}

function broadcast(io: Server, rows: StoredRow[], commitMs: number): void {
  for (const r of rows) {
    const event: WireEvent = { sessionId: r.session_id, seq: Number(r.seq), event_type: r.event_type, payload: r.payload, commitMs };
    io.to(room(r.session_id)).emit('event', event);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy(new PeerProtocolError('PEER_BAD_REQUEST', `body over ${MAX_BODY_BYTES} bytes`));
      else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** PostgreSQL errors caused by the request (unknown session, bad uuid, refused type/payload) are 400s. */
const CLIENT_PG_CODES = new Set(['23503', '23514', '22P02', '23502']);

function handleEmit(io: Server, pool: pg.Pool) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readBody(req));
      } catch (err) {
        throw new PeerProtocolError('PEER_BAD_REQUEST', `body is not JSON: ${(err as Error).message}`);
      }
      const { rows, commitMs } = await store(pool, decodeEmitBody(parsed));
      broadcast(io, rows, commitMs);
      reply(res, 200, { count: rows.length });
    } catch (err) {
      const e = err as Error & { code?: string };
      const clientFault = err instanceof PeerProtocolError || CLIENT_PG_CODES.has(e.code ?? '');
      if (!clientFault) process.stderr.write(`socketio peer: emit failed: ${e.stack ?? e.message}\n`);
      reply(res, clientFault ? 400 : 500, { code: e.code ?? 'PEER_INTERNAL', message: e.message });
    }
  };
}

function attachSocketIo(httpServer: http.Server, pool: pg.Pool): Server {
  const io = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: false,
    // Without `adapter`, connectionStateRecovery makes socket.io use its in-memory SessionAwareAdapter.
    ...(process.env.PEER_ADAPTER === 'memory'
      ? {}
      : { adapter: createAdapter(pool, { errorHandler: (err) => process.stderr.write(`socketio peer: adapter: ${err.message}\n`) }) }),
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
  });
  // A peer baseline: a token must be present, nothing more is verified.
  io.use((socket, next) => (typeof socket.handshake.auth.token === 'string' && socket.handshake.auth.token ? next() : next(new Error('auth.token required'))));
  io.on('connection', (socket) => {
    socket.on('join', async (msg: unknown, ack: unknown) => {
      const answer = typeof ack === 'function' ? (ack as (a: JoinAck) => void) : () => undefined;
      const sessionId = (msg as { sessionId?: unknown } | null)?.sessionId;
      if (typeof sessionId !== 'string' || !sessionId) return answer({ ok: false, error: 'join needs {sessionId: string}' });
      await socket.join(room(sessionId));
      answer({ ok: true });
    });
  });
  return io;
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required (a superuser URL to the bench PostgreSQL)');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.PG_POOL_MAX ?? 20) });
  pool.on('error', (err) => process.stderr.write(`socketio peer: pg pool: ${err.message}\n`));
  // The adapter stores payloads over 8,000 bytes (or binary) here; the same DDL as its README.
  await pool.query(`create table if not exists socket_io_attachments (
    id bigserial unique, created_at timestamptz default now(), payload bytea)`);

  const httpServer = http.createServer({ keepAlive: true, keepAliveTimeout: 65_000 });
  const io = attachSocketIo(httpServer, pool);
  const emit = handleEmit(io, pool);
  // Socket.IO answers /socket.io/*; everything else reaches this listener.
  httpServer.on('request', (req, res) => {
    if (req.url?.startsWith('/socket.io/')) return;
    if (req.method === 'POST' && req.url === '/emit') void emit(req, res);
    else reply(res, 404, { code: 'PEER_NOT_FOUND', message: 'POST /emit is the only route' });
  });
  await new Promise<void>((resolve) => httpServer.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (httpServer.address() as { port: number }).port })}\n`);

  const stop = () => {
    setTimeout(() => process.exit(0), 5_000).unref();
    io.close(() => void pool.end().finally(() => process.exit(0)));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`socketio peer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
