/**
 * Limits of the Realtime endpoint. Each one, when exceeded, answers with a clear error (a join or push error
 * reply, an HTTP status, or a close frame with a reason) and never takes the server down.
 */
export interface RealtimeLimits {
  /** Largest inbound WebSocket frame (ws `maxPayload`); a bigger one closes the socket with 1009. */
  maxFrameBytes: number;
  /** Largest broadcast or presence payload, in bytes of JSON (or raw bytes); bigger ones get an error reply. */
  maxPayloadBytes: number;
  /** Channels one connection may have joined (or be joining) at once. */
  maxChannelsPerConnection: number;
  /** postgres_changes bindings in one join. */
  maxBindingsPerChannel: number;
  /** Joins per second per connection. */
  maxJoinsPerSecond: number;
  /** Inbound frames per second per connection other than joins (heartbeats included). Past twice this, the socket is closed. */
  maxMessagesPerSecond: number;
  /** Bytes queued for one slow client before it is disconnected (close 1013 "slow consumer"). */
  maxOutgoingBufferBytes: number;
  /** A connection that sends nothing (not even a heartbeat) for this long is closed. Clients beat every 25 s. */
  heartbeatTimeoutMs: number;
  /** Open WebSocket connections per server process; the next upgrade gets HTTP 429. */
  maxConnections: number;
  /** Messages in one REST broadcast request. */
  maxBroadcastMessagesPerRequest: number;
}

export const DEFAULT_REALTIME_LIMITS: Readonly<RealtimeLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxPayloadBytes: 256 * 1024,
  maxChannelsPerConnection: 100,
  maxBindingsPerChannel: 100,
  maxJoinsPerSecond: 100,
  maxMessagesPerSecond: 100,
  maxOutgoingBufferBytes: 4 * 1024 * 1024,
  heartbeatTimeoutMs: 60_000,
  maxConnections: 10_000,
  maxBroadcastMessagesPerRequest: 100,
});

/** `in.(...)` lists hold at most this many values (as Supabase documents). */
export const MAX_FILTER_VALUES = 100;
/** Longest topic; binary frames store its length in one byte. */
export const MAX_TOPIC_LENGTH = 255;

/**
 * Counts events in fixed one-second windows (internal).
 *
 * @example
 * const joins = new RateWindow(100);
 * if (!joins.take()) refuse('too many joins per second');
 */
export class RateWindow {
  private windowStart = 0;
  private count = 0;

  constructor(readonly perSecond: number, private readonly now: () => number = Date.now) {}

  /** Counts one event; false when this window is already full. */
  take(): boolean {
    this.roll();
    this.count += 1;
    return this.count <= this.perSecond;
  }

  /** Events counted in the current window (including refused ones). */
  get used(): number {
    this.roll();
    return this.count;
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.count = 0;
    }
  }
}
