// Bench worker: holds many subscriber connections, records latencies, checks order, loss and duplicates.
// Driven over IPC by bench/run.ts: start → ready, (storm → recovered), finish → result.
import { RealtimeService } from '@mobvibe/realtime-client';
import { supabaseClient } from '@mobvibe/testkit';
import { PhoenixSubscriber } from '../lib/phoenix.js';
import { isoToMs, nowMs } from '../lib/stats.js';
import type { ReceivedEvent, Subscriber, SystemName } from '../lib/types.js';

interface Start {
  type: 'start';
  system: SystemName;
  /** 'light': a minimal protocol client per connection; 'service': the real RealtimeService (supabase-js) per subscriber. */
  mode: 'light' | 'service';
  url: string;
  apikey: string;
  sessions: Array<{ id: string; token: string }>;
  perSession: number;
  /** Record latencies (off for idle connections). */
  record: boolean;
}

interface Conn {
  sessionId: string;
  token: string;
  sub: Subscriber;
  /** Highest seq received. */
  lastSeq: number;
  /** Every seq received, to count loss and duplicates exactly even when delivery is out of order. */
  seen: Set<number>;
  dropped: boolean;
  /** Holds every event the runner expects for its session. */
  complete: boolean;
  /** When the latest new seq arrived (epoch ms). */
  lastNewAt: number;
}

const conns: Conn[] = [];
let commit: number[] = [];
let emit: number[] = [];
let received = 0;
let duplicates = 0;
let outOfOrder = 0;
let closedUnexpectedly = 0;
let recording = true;
/** When service-mode subscribers went live again after a drop (epoch ms). */
const liveAgainAt: number[] = [];
/** Errors service-mode clients reported (each one costs a retry), by code and first message. */
const clientErrors: Record<string, number> = {};
/** When service-mode clients entered each state after their first live (epoch ms), for the storm's timeline. */
const phases: Record<string, number[]> = {};
let start: Start;
/** Events expected per session, once the emitters are done; connections still short of theirs. */
let expected: Map<string, number> | undefined;
let incomplete = 0;

/** Tells the runner the moment the last connection got its last event (or that the deadline passed). */
function checkComplete(conn: Conn): void {
  if (!expected || conn.complete || conn.seen.size < (expected.get(conn.sessionId) ?? 0)) return;
  conn.complete = true;
  if (--incomplete === 0) reportCaughtUp();
}

/** All complete: the moment is when the last of them received its last new event. */
function reportCaughtUp(): void {
  process.send!({ type: 'caughtUp', at: conns.reduce((at, c) => Math.max(at, c.lastNewAt), 0) });
}

/** The app's own client: supabase-js + RealtimeService, which reconnects and catches up by itself. */
function serviceSubscriber(url: string, apikey: string): Subscriber {
  let service: RealtimeService | undefined;
  let supabase: ReturnType<typeof supabaseClient> | undefined;
  const sub: Subscriber = {
    connect: async () => undefined,
    joinSession: (sessionId, token) =>
      new Promise<void>((resolve) => {
        supabase = supabaseClient(url, apikey, token);
        service = new RealtimeService({
          supabase,
          onError: (err) => {
            const key = `${err.code}: ${err.message.slice(0, 80)}`;
            clientErrors[key] = (clientErrors[key] ?? 0) + 1;
          },
        });
        let first = true;
        service.onStateChange(({ newState }) => {
          if (!first) (phases[newState.status] ??= []).push(nowMs());
          if (newState.status !== 'live') return;
          if (first) (first = false), resolve();
          else liveAgainAt.push(nowMs());
        });
        service.subscribe(sessionId, (e) => sub.onEvent({ sessionId: e.sessionId, seq: e.seq, commitMs: Date.parse(e.createdAt), emitMs: Number((e.data as { output?: string }).output), receivedAt: nowMs() }), { afterSeq: 0 });
      }),
    onEvent: () => undefined,
    onClose: () => undefined,
    terminate: () => undefined, // dropped from outside, by the fault proxy
    close: () => {
      void service?.close();
      supabase?.realtime.disconnect();
    },
  };
  return sub;
}

async function makeSubscriber(system: SystemName, url: string, apikey: string): Promise<Subscriber> {
  if (start.mode === 'service' && system === 'mobvibe') return serviceSubscriber(url, apikey);
  if (system === 'socketio') {
    const { SocketIoSubscriber } = await import('../peers/socketio/client.js');
    return new SocketIoSubscriber(url, apikey) as Subscriber;
  }
  const p = new PhoenixSubscriber(`${url.replace(/^http/, 'ws')}/realtime/v1/websocket`, apikey, nowMs);
  const sub: Subscriber = {
    connect: () => p.connect(),
    joinSession: (id, token) => p.joinSession(id, token),
    onEvent: () => undefined,
    onClose: () => undefined,
    terminate: () => p.terminate(),
    close: () => p.close(),
  };
  p.onChange = (m) => {
    const r = m.record as { session_id: string; seq: number; payload: { output: string } };
    sub.onEvent({ sessionId: r.session_id, seq: r.seq, commitMs: isoToMs(m.commitTimestamp), emitMs: Number(r.payload.output), receivedAt: m.receivedAt });
  };
  p.onClose = (code, reason) => sub.onClose(code, reason);
  return sub;
}

function handle(conn: Conn, e: ReceivedEvent): void {
  received++;
  if (conn.seen.has(e.seq)) duplicates++;
  else {
    conn.seen.add(e.seq);
    if (e.seq < conn.lastSeq) outOfOrder++; // arrived after a higher seq
    conn.lastSeq = Math.max(conn.lastSeq, e.seq);
    conn.lastNewAt = e.receivedAt;
    checkComplete(conn);
  }
  if (recording && start.record) {
    commit.push(e.receivedAt - e.commitMs);
    emit.push(e.receivedAt - e.emitMs);
  }
}

async function open(conn: Conn): Promise<void> {
  const sub = await makeSubscriber(start.system, start.url, start.apikey);
  conn.sub = sub;
  sub.onEvent = (e) => handle(conn, e);
  sub.onClose = () => {
    if (!conn.dropped) closedUnexpectedly++;
  };
  await sub.connect();
  await sub.joinSession(conn.sessionId, conn.token);
}

/** Opens connections with bounded concurrency (a thundering herd of handshakes is its own benchmark). */
async function openAll(list: Conn[], concurrency = 200): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) await open(list[next++]!);
    }),
  );
}

process.on('message', async (m: { type: string } & Record<string, unknown>) => {
  try {
    if (m.type === 'start') {
      start = m as unknown as Start;
      for (const s of start.sessions) for (let i = 0; i < start.perSession; i++) conns.push({ sessionId: s.id, token: s.token, sub: undefined as never, lastSeq: 0, seen: new Set(), dropped: false, complete: false, lastNewAt: 0 });
      await openAll(conns);
      process.send!({ type: 'ready', connections: conns.length, rssBytes: process.memoryUsage().rss });
    } else if (m.type === 'reset-stats') {
      commit = [];
      emit = [];
    } else if (m.type === 'storm') {
      // Drop every connection at once (no close handshake), then let each client reconnect as it would.
      for (const c of conns) {
        c.dropped = true;
        c.sub.terminate();
      }
      process.send!({ type: 'dropped', count: conns.length });
    } else if (m.type === 'expect') {
      expected = new Map(m.expected as Array<[string, number]>);
      for (const c of conns) c.complete = c.seen.size >= (expected.get(c.sessionId) ?? 0);
      incomplete = conns.filter((c) => !c.complete).length;
      if (incomplete === 0) reportCaughtUp();
      setTimeout(() => incomplete > 0 && process.send!({ type: 'caughtUp', at: null }), m.timeoutMs as number).unref();
    } else if (m.type === 'finish') {
      recording = false;
      for (const c of conns) c.sub.close();
      const result = { type: 'result', liveAgainAt, clientErrors, phases, received, duplicates, outOfOrder, closedUnexpectedly, commit, emit, lastSeqs: conns.map((c) => [c.sessionId, c.seen.size]) };
      process.send!(result, () => process.exit(0)); // exit only once the (large) message is out
    }
  } catch (err) {
    process.send!({ type: 'error', message: (err as Error).stack ?? String(err) });
  }
});
