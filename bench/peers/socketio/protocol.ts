/**
 * Wire contract of the Socket.IO peer (bench/peers/socketio): what POST /emit accepts, what the `join` ack and
 * the `event` message carry, and one decoder for each, so neither side dispatches raw wire data.
 */

/** One session's events in a POST /emit body. The body is one of these or an array of them. */
export interface EmitBatch {
  sessionId: string;
  events: Array<{ type: string; data: Record<string, unknown> }>;
}

/** The `event` message broadcast to room `session:<id>` for every stored row, in seq order. */
export interface WireEvent {
  sessionId: string;
  seq: number;
  event_type: string;
  payload: Record<string, unknown>;
  /** Epoch ms (float) the row committed, per PostgreSQL (pg_xact_commit_timestamp). */
  commitMs: number;
}

export type JoinAck = { ok: true } | { ok: false; error: string };

export const room = (sessionId: string): string => `session:${sessionId}`;

/** A protocol violation, with a stable code. */
export class PeerProtocolError extends Error {
  constructor(readonly code: 'PEER_BAD_REQUEST' | 'PEER_BAD_EVENT' | 'PEER_BAD_ACK', message: string) {
    super(message);
    this.name = 'PeerProtocolError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed POST /emit body; throws PeerProtocolError('PEER_BAD_REQUEST') saying what is wrong. */
export function decodeEmitBody(body: unknown): EmitBatch[] {
  const batches = Array.isArray(body) ? body : [body];
  if (batches.length === 0) throw new PeerProtocolError('PEER_BAD_REQUEST', 'body must hold at least one {sessionId, events}');
  return batches.map((b, i) => {
    if (!isObject(b) || typeof b.sessionId !== 'string' || !Array.isArray(b.events) || b.events.length === 0) {
      throw new PeerProtocolError('PEER_BAD_REQUEST', `batch ${i}: expected {sessionId: string, events: [{type, data}, ...]}`);
    }
    for (const e of b.events as unknown[]) {
      if (!isObject(e) || typeof e.type !== 'string' || !isObject(e.data)) {
        throw new PeerProtocolError('PEER_BAD_REQUEST', `batch ${i}: every event needs {type: string, data: object}`);
      }
    }
    return b as unknown as EmitBatch;
  });
}

/** Validates an `event` message from the peer server. */
export function decodeWireEvent(raw: unknown): WireEvent {
  if (!isObject(raw) || typeof raw.sessionId !== 'string' || typeof raw.seq !== 'number' || typeof raw.commitMs !== 'number' || !isObject(raw.payload)) {
    throw new PeerProtocolError('PEER_BAD_EVENT', `malformed event message: ${JSON.stringify(raw).slice(0, 200)}`);
  }
  return raw as unknown as WireEvent;
}

/** Validates a `join` acknowledgement. */
export function decodeJoinAck(raw: unknown): JoinAck {
  if (isObject(raw) && raw.ok === true) return { ok: true };
  if (isObject(raw) && raw.ok === false && typeof raw.error === 'string') return { ok: false, error: raw.error };
  throw new PeerProtocolError('PEER_BAD_ACK', `malformed join ack: ${JSON.stringify(raw).slice(0, 200)}`);
}
