// Bench worker: emits `terminal` events at a fixed rate per session for a fixed time, through the worker SDK
// (EventEmitter on supabase-js, optionally with group commit) or the Socket.IO peer's HTTP endpoint.
// Each event carries the time its emit call started (payload.output), for emit→receipt latency.
import { EventEmitter, createLogger } from '@mobvibe/worker';
import { nowMs } from '../lib/stats.js';
import type { SystemName } from '../lib/types.js';

interface Start {
  type: 'start';
  system: SystemName;
  url: string;
  serviceKey: string;
  sessions: string[];
  ratePerSession: number;
  durationMs: number;
  groupCommitMs: number;
  maxInFlight: number;
}

process.on('message', async (m: Start) => {
  if (m.type !== 'start') return;
  const emitted = new Map<string, number>(m.sessions.map((s) => [s, 0]));
  let errors = 0;
  let inFlight = 0;
  let firstError = '';
  const send = await sender(m);
  const total = Math.round((m.ratePerSession * m.sessions.length * m.durationMs) / 1000);
  const started = nowMs();
  let sent = 0;
  let cursor = 0;
  process.send!({ type: 'emitting' });
  // Bookkeeping stays O(1) per event (no list of pending promises), so the load generator's own allocation
  // and GC cost does not grow over the run and take CPU from the system under test.
  let settled = 0;
  let drained: (() => void) | undefined;
  const ok = (sessionId: string) => () => void emitted.set(sessionId, emitted.get(sessionId)! + 1);
  const fail = (err: unknown) => {
    errors++;
    firstError ||= String((err as Error)?.message ?? err);
  };
  const done = () => {
    inFlight--;
    if (++settled === total) drained?.();
  };
  while (sent < total) {
    // Emit whatever is due by now, so the rate holds even when a tick runs late.
    const due = Math.min(total, Math.floor(((nowMs() - started) / 1000) * m.ratePerSession * m.sessions.length));
    while (sent < due && inFlight < m.maxInFlight) {
      const sessionId = m.sessions[cursor++ % m.sessions.length]!;
      sent++;
      inFlight++;
      send(sessionId, nowMs()).then(ok(sessionId), fail).finally(done);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  if (settled < total) await new Promise<void>((resolve) => (drained = resolve));
  const elapsed = (nowMs() - started) / 1000;
  process.send!({ type: 'done', emitted: [...emitted], errors, firstError, elapsedSeconds: elapsed }, () => process.exit(0));
});

async function sender(m: Start): Promise<(sessionId: string, t: number) => Promise<unknown>> {
  if (m.system === 'socketio') {
    // The same grouping as our worker's group commit, for a like-for-like comparison.
    const { SocketIoEmitter } = await import('../peers/socketio/client.js');
    const emitter = new SocketIoEmitter(m.url, { maxDelayMs: m.groupCommitMs, maxEvents: 1000 });
    return (sessionId, t) => emitter.emit(sessionId, t);
  }
  const emitter = new EventEmitter({
    supabaseUrl: m.url,
    serviceRoleKey: m.serviceKey,
    logger: createLogger('silent'),
    ...(m.groupCommitMs > 0 ? { groupCommit: { maxDelayMs: m.groupCommitMs, maxEvents: 1000, maxInFlight: Number(process.env.BENCH_MAX_IN_FLIGHT ?? 1) } } : {}),
  });
  return (sessionId, t) => emitter.emit(sessionId, { type: 'terminal', data: { command: 'bench', output: String(t) } });
}
