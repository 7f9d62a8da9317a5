import { parseEventRecord, toClientEvent, type ClientSessionEvent } from '@mobvibe/events';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import type { BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import { ClientErrorCode, normalizeError, RealtimeClientError } from './errors.js';
import type { History } from './history.js';
import { Sequencer } from './sequencer.js';
import { sameState, type ConnectionState, type StateListener } from './state.js';
import { RetryTimer } from './timer.js';

export type EventHandler = (event: ClientSessionEvent) => void;

/** What Supabase Realtime (and this project's server) puts in `errors` when a row was too large to carry live. */
const PAYLOAD_TOO_LARGE = 'Error 413: Payload Too Large';

/** The change carries only the row's small fields (its keys); the row itself must be read by REST. */
const tooLargeToCarry = (payload: { errors?: unknown }): boolean => Array.isArray(payload.errors) && payload.errors.includes(PAYLOAD_TOO_LARGE);

/** @internal What a SessionStream needs from its service. */
export interface StreamDeps {
  supabase: SupabaseClient;
  history: History;
  clock: Clock;
  random: () => number;
  backoff: BackoffOptions;
  attemptTimeoutMs: number;
  minUptimeMs: number;
  pageSize: number;
  historyLimit: number;
  privateChannel: boolean;
  accessToken: (() => Promise<string | null | undefined>) | undefined;
  isOnline: () => boolean;
  onError: (error: RealtimeClientError, sessionId: string) => void;
  onState: StateListener;
}

interface Subscriber {
  handler: EventHandler;
  /** Last seq this handler received; undefined until its history is loaded. */
  cursor: number | undefined;
  /** Live events held while this handler's own history loads. */
  queue: ClientSessionEvent[] | undefined;
}

/**
 * @internal One session's live stream: one supabase-js channel at a time, history and catch-up over REST,
 * strict seq order, retries with backoff. Callbacks from a replaced channel are ignored (attempt ids).
 */
export class SessionStream {
  private state: ConnectionState = { status: 'closed' };
  private readonly subscribers = new Set<Subscriber>();
  private sequencer: Sequencer | undefined;
  private early: ClientSessionEvent[] = [];
  private channel: RealtimeChannel | undefined;
  private removing: Promise<unknown> = Promise.resolve();
  private attemptId = 0;
  private attemptTimer: unknown;
  private uptimeTimer: unknown;
  private fillingGap = false;
  private stopped = true;
  private readonly retry: RetryTimer;

  constructor(readonly sessionId: string, private readonly deps: StreamDeps) {
    this.retry = new RetryTimer(() => void this.connect(), deps.clock, deps.backoff, deps.random);
  }

  getState(): ConnectionState {
    return this.state;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Adds a handler; its history (after `afterSeq`, or the latest page) is delivered first, then live events. */
  add(handler: EventHandler, afterSeq: number | undefined): () => void {
    const sub: Subscriber = { handler, cursor: undefined, queue: [] };
    this.subscribers.add(sub);
    if (this.stopped) {
      // The first handler decides where the stream starts.
      this.sequencer = afterSeq === undefined ? undefined : new Sequencer(afterSeq);
      sub.cursor = afterSeq;
      sub.queue = afterSeq === undefined ? [] : undefined;
      this.start();
    } else {
      void this.backfill(sub, afterSeq);
    }
    return () => this.subscribers.delete(sub);
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  /** Ends the stream: removes the channel, cancels timers, state closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.retry.reset();
    this.clearAttemptTimers();
    this.setState({ status: 'closed' }, 'unsubscribed');
    await this.dropChannel();
  }

  /** The network came back or the app became active: retry at once and catch up instead of waiting. */
  wake(reason: string): void {
    if (this.stopped || !this.deps.isOnline()) return;
    if (this.state.status === 'live' && this.deps.supabase.realtime.isConnected()) {
      void this.catchUp(this.attemptId, reason);
      return;
    }
    if (this.state.status === 'connecting' || this.state.status === 'catching_up') return;
    this.retry.cancel();
    void this.connect();
  }

  /** The network is gone: stop burning retries until it returns. */
  goOffline(): void {
    if (this.stopped) return;
    this.retry.cancel();
    this.setState({ status: 'offline' }, 'network offline');
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (!this.deps.isOnline()) return this.goOffline();
    const id = ++this.attemptId;
    this.setState({ status: 'connecting' }, `attempt ${this.retry.attempt + 1}`);
    await this.dropChannel();
    this.attemptTimer = this.deps.clock.setTimeout(
      () => this.fail(id, new RealtimeClientError(ClientErrorCode.AttemptTimeout, `not live within ${this.deps.attemptTimeoutMs} ms`)),
      this.deps.attemptTimeoutMs,
    );
    try {
      const token = await this.deps.accessToken?.();
      if (token) await this.deps.supabase.realtime.setAuth(token);
    } catch (err) {
      return this.fail(id, normalizeError(ClientErrorCode.TokenUnavailable, err, 'access token provider failed'));
    }
    if (id !== this.attemptId || this.stopped) return;
    this.channel = this.openChannel(id);
  }

  private openChannel(id: number): RealtimeChannel {
    const filter = `session_id=eq.${this.sessionId}`;
    return this.deps.supabase
      .channel(`session:${this.sessionId}`, { config: { private: this.deps.privateChannel } })
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter }, (payload) => {
        if (id !== this.attemptId) return;
        if (tooLargeToCarry(payload)) this.onAnnounced(payload.new);
        else this.onLive(payload.new);
      })
      .subscribe((status, err) => {
        if (id !== this.attemptId || this.stopped) return;
        if (status === 'SUBSCRIBED') void this.catchUp(id, 'subscribed');
        else if (status === 'CHANNEL_ERROR') this.fail(id, this.channelError(err));
        else this.fail(id, new RealtimeClientError(ClientErrorCode.ChannelFailed, `channel ${status.toLowerCase().replace('_', ' ')}`));
      });
  }

  private channelError(err: Error | undefined): RealtimeClientError {
    // A join refused by the server carries its reason; socket-level failures carry none.
    const message = err?.message ?? 'channel error';
    const refused = /unauthori[sz]ed|forbidden|not allowed|cannot read|access|jwt|token|denied/i.test(message);
    return new RealtimeClientError(refused ? ClientErrorCode.JoinRefused : ClientErrorCode.ChannelFailed, message, { cause: err });
  }

  /** Loads what was committed before SUBSCRIBED (or while away), then reports live. */
  private async catchUp(id: number, reason: string): Promise<void> {
    try {
      this.setState({ status: 'catching_up', behind: undefined }, reason);
      if (!this.sequencer) await this.loadInitialHistory();
      if (id !== this.attemptId) return;
      for (;;) {
        const page = await this.deps.history.after(this.sessionId, this.sequencer!.cursor, this.deps.pageSize);
        if (id !== this.attemptId) return;
        this.deliver(this.sequencer!.push(page));
        if (page.length < this.deps.pageSize) break;
        this.setState({ status: 'catching_up', behind: this.sequencer!.behind || undefined }, 'catching up');
      }
      await this.fillGap();
      if (id !== this.attemptId) return;
      this.becameLive(id);
    } catch (err) {
      this.fail(id, normalizeError(ClientErrorCode.CatchUpFailed, err, 'catch-up failed'));
    }
  }

  private async loadInitialHistory(): Promise<void> {
    const latest = await this.deps.history.latest(this.sessionId, this.deps.historyLimit);
    this.sequencer = new Sequencer(latest.length ? latest[0]!.seq - 1 : 0);
    for (const sub of this.subscribers) if (sub.cursor === undefined) sub.cursor = this.sequencer.cursor;
    this.deliver(this.sequencer.push([...latest, ...this.early]));
    this.early = [];
    for (const sub of this.subscribers) this.flushQueue(sub);
  }

  private becameLive(id: number): void {
    this.deps.clock.clearTimeout(this.attemptTimer);
    this.setState({ status: 'live' }, 'subscribed and caught up');
    this.deps.clock.clearTimeout(this.uptimeTimer);
    // Only a connection that stays up for a while earns a fresh backoff.
    this.uptimeTimer = this.deps.clock.setTimeout(() => {
      if (id === this.attemptId && this.state.status === 'live') this.retry.reset();
    }, this.deps.minUptimeMs);
  }

  private onLive(row: unknown): void {
    let event: ClientSessionEvent;
    try {
      event = toClientEvent(parseEventRecord(row));
    } catch (err) {
      this.deps.onError(normalizeError(ClientErrorCode.InvalidRecord, err, 'invalid record'), this.sessionId);
      return;
    }
    if (!this.sequencer) {
      this.early.push(event);
      return;
    }
    this.deliver(this.sequencer.push([event]));
    if (this.sequencer.gap() && this.state.status === 'live') void this.fillGap();
  }

  /** A row too large to ride the change (the server sent its keys only): fetch it by REST, in order. */
  private onAnnounced(row: Record<string, unknown>): void {
    const seq = row.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) {
      this.deps.onError(new RealtimeClientError(ClientErrorCode.InvalidRecord, 'a change too large to carry live came without its seq'), this.sessionId);
      return;
    }
    if (!this.sequencer) return; // the initial history load reads it anyway
    this.sequencer.announce(seq);
    if (this.state.status === 'live') void this.fillGap();
  }

  /** A jump in seq: fetch the missing range; seqs the fetch proves absent (deleted) are skipped. */
  private async fillGap(): Promise<void> {
    if (this.fillingGap) return;
    this.fillingGap = true;
    const id = this.attemptId;
    try {
      for (let gap = this.sequencer!.gap(); gap; gap = this.sequencer!.gap()) {
        const rows = await this.deps.history.after(this.sessionId, gap.after, this.deps.pageSize, gap.before);
        if (id !== this.attemptId) return;
        this.deliver(this.sequencer!.push(rows));
        if (rows.length < this.deps.pageSize) this.deliver(this.sequencer!.skipTo(gap.before - 1));
      }
    } catch (err) {
      this.fail(id, normalizeError(ClientErrorCode.CatchUpFailed, err, 'gap fetch failed'));
    } finally {
      this.fillingGap = false;
    }
  }

  /** A handler joining a running stream gets its own history first, from REST. */
  private async backfill(sub: Subscriber, afterSeq: number | undefined): Promise<void> {
    try {
      const upTo = this.sequencer?.cursor;
      const rows =
        afterSeq === undefined
          ? await this.deps.history.latest(this.sessionId, this.deps.historyLimit, upTo === undefined ? undefined : upTo + 1)
          : await this.pagesAfter(afterSeq, upTo);
      sub.cursor = afterSeq ?? (rows.length ? rows[0]!.seq - 1 : upTo ?? 0);
      for (const e of rows) this.deliverTo(sub, e);
      this.flushQueue(sub);
    } catch (err) {
      this.deps.onError(normalizeError(ClientErrorCode.CatchUpFailed, err, 'loading history failed'), this.sessionId);
      sub.cursor = afterSeq ?? this.sequencer?.cursor ?? 0;
      this.flushQueue(sub);
    }
  }

  private async pagesAfter(afterSeq: number, upTo: number | undefined): Promise<ClientSessionEvent[]> {
    const out: ClientSessionEvent[] = [];
    for (let cursor = afterSeq; upTo === undefined || cursor < upTo; ) {
      const page = await this.deps.history.after(this.sessionId, cursor, this.deps.pageSize, upTo === undefined ? undefined : upTo + 1);
      out.push(...page);
      if (page.length < this.deps.pageSize) break;
      cursor = page[page.length - 1]!.seq;
    }
    return out;
  }

  private flushQueue(sub: Subscriber): void {
    const queued = sub.queue ?? [];
    sub.queue = undefined;
    for (const e of queued) this.deliverTo(sub, e);
  }

  private deliver(events: ClientSessionEvent[]): void {
    for (const e of events) for (const sub of this.subscribers) this.deliverTo(sub, e);
  }

  private deliverTo(sub: Subscriber, e: ClientSessionEvent): void {
    if (sub.queue) {
      sub.queue.push(e);
      return;
    }
    if (sub.cursor !== undefined && e.seq <= sub.cursor) return;
    sub.cursor = e.seq;
    try {
      sub.handler(e);
    } catch (err) {
      this.deps.onError(normalizeError(ClientErrorCode.InvalidRecord, err, 'event handler threw'), this.sessionId);
    }
  }

  private fail(id: number, error: RealtimeClientError): void {
    if (id !== this.attemptId || this.stopped) return;
    this.attemptId++; // late callbacks of this attempt are ignored from now on
    this.clearAttemptTimers();
    void this.dropChannel();
    if (error.code !== ClientErrorCode.JoinRefused) this.dropStuckSocket(); // after the channel is removed
    this.deps.onError(error, this.sessionId);
    if (!this.deps.isOnline()) return this.goOffline();
    const nextRetryAt = this.retry.schedule();
    const attempt = this.retry.attempt;
    if (error.code === ClientErrorCode.JoinRefused) {
      this.setState({ status: 'error', reason: error.message, code: error.code, attempt, nextRetryAt }, error.message);
    } else {
      this.setState({ status: 'reconnecting', attempt, nextRetryAt }, error.message);
    }
  }

  /**
   * A socket that is not open when an attempt fails may never become usable again: Node 22's WebSocket
   * (undici 6) can fire `error` during the handshake and then stay CONNECTING without ever firing `close`,
   * and realtime-js opens a new socket only after the old one closed. Disconnecting discards it; the next
   * attempt waits for that (it awaits `removing`), so its join opens a fresh socket. An open socket is left
   * alone: other channels of the app may be using it.
   */
  private dropStuckSocket(): void {
    const realtime = this.deps.supabase.realtime;
    this.removing = this.removing.then(() => (realtime.isConnected() ? undefined : realtime.disconnect().catch(() => undefined)));
  }

  private clearAttemptTimers(): void {
    this.deps.clock.clearTimeout(this.attemptTimer);
    this.deps.clock.clearTimeout(this.uptimeTimer);
  }

  /** Removes the current channel; the next one is only created after this finished (one channel per session). */
  private dropChannel(): Promise<unknown> {
    const channel = this.channel;
    this.channel = undefined;
    if (channel) {
      const prior = this.removing;
      this.removing = prior.then(() => this.deps.supabase.removeChannel(channel).catch(() => undefined));
    }
    return this.removing;
  }

  private setState(next: ConnectionState, reason: string): void {
    const old = this.state;
    if (sameState(old, next)) return;
    this.state = next;
    this.deps.onState({ oldState: old, newState: next, reason });
  }
}
