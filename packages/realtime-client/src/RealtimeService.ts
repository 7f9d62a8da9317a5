import type { ClientSessionEvent } from '@mobvibe/events';
import type { SupabaseClient } from '@supabase/supabase-js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import type { RealtimeClientError } from './errors.js';
import { History } from './history.js';
import type { AppStateSource, NetworkStatusSource } from './platform.js';
import { SessionStream, type EventHandler } from './SessionStream.js';
import { aggregate, sameState, type ConnectionState, type StateChange, type StateListener } from './state.js';

/** One shared object, so snapshots of an absent session compare equal (React's useSyncExternalStore). */
const CLOSED: ConnectionState = Object.freeze({ status: 'closed' });

export interface RealtimeServiceOptions {
  /** The app's own supabase-js client (this project's server or hosted Supabase). */
  supabase: SupabaseClient;
  /**
   * Returns a fresh access token; called before every connection attempt and REST catch-up, so an expired
   * JWT never causes a retry loop. Omit when the supabase client manages auth itself.
   *
   * With supabase-js 2.119, realtime-js asks supabase-js for its token again on every heartbeat (its
   * `accessToken` option, else its auth session, else the anon key) and sends it when it differs: give
   * supabase-js the same token source, or a token set here lasts only until the next heartbeat.
   */
  accessToken?: () => Promise<string | null | undefined>;
  /** Network reachability (NetInfo, browser online/offline). Without it the service assumes online. */
  network?: NetworkStatusSource;
  /** Foreground/background (React Native AppState, page visibility). */
  appState?: AppStateSource;
  clock?: Clock;
  random?: () => number;
  /** Reconnect backoff: full jitter from `baseMs` doubling up to `capMs`. Default 1 s .. 30 s. */
  backoff?: BackoffOptions;
  /** Each attempt (subscribe + catch-up) must be live within this, else it is retried. Default 15 s. */
  attemptTimeoutMs?: number;
  /** The attempt counter resets only after staying live this long. Default 10 s. */
  minUptimeMs?: number;
  /** Events loaded when subscribing without `afterSeq`. Default 100. */
  historyLimit?: number;
  /** Page size of REST catch-up. Default 500. */
  pageSize?: number;
  /**
   * Join the session's channel as a private channel (default true): who may receive on it is decided by the
   * realtime.messages policy shipped in supabase/migrations (the session's owner), here and on hosted Supabase alike. Set false
   * only for a project without that policy.
   */
  privateChannel?: boolean;
  /** Failures the service recovered from or skipped (for logging). */
  onError?: (error: RealtimeClientError, sessionId: string) => void;
}

export interface SubscribeOptions {
  /** Resume after this seq (kept by the app across restarts) instead of loading the latest history page. */
  afterSeq?: number;
}

/**
 * A session's events, exactly once and in seq order, across reconnects, app restarts and server restarts.
 *
 * @example
 * const service = new RealtimeService({ supabase });
 * const stop = service.subscribe(sessionId, (event) => console.log(event.seq, event.type, event.data));
 * service.onStateChange(({ newState }) => console.log(newState.status));
 * stop();
 */
export class RealtimeService {
  private readonly streams = new Map<string, SessionStream>();
  private readonly listeners = new Set<StateListener>();
  private readonly sessionListeners = new Map<string, Set<StateListener>>();
  private readonly errorListeners = new Map<string, Set<(error: RealtimeClientError) => void>>();
  private readonly history: History;
  private state: ConnectionState = CLOSED;
  private online: boolean;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly opts: RealtimeServiceOptions) {
    this.history = new History(opts.supabase, async () => (await opts.accessToken?.()) ?? undefined);
    this.online = opts.network?.isOnline() ?? true;
    if (opts.network) this.detach.push(opts.network.subscribe((online) => this.setOnline(online)));
    if (opts.appState) this.detach.push(opts.appState.subscribe((s) => s === 'active' && this.wake('app active')));
  }

  /**
   * Delivers the session's history, then its live events, to `handler`, each exactly once and in seq order.
   * Returns a function that removes this handler only.
   */
  subscribe(sessionId: string, handler: EventHandler, options: SubscribeOptions = {}): () => void {
    let stream = this.streams.get(sessionId);
    if (!stream) {
      stream = new SessionStream(sessionId, this.streamDeps(sessionId));
      this.streams.set(sessionId, stream);
    }
    const remove = stream.add(handler, options.afterSeq);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      remove();
      if (stream.size === 0 && this.streams.get(sessionId) === stream) {
        this.streams.delete(sessionId);
        void stream.stop().then(() => this.refresh('unsubscribed'));
      }
    };
  }

  /** Events before `beforeSeq` (older history), ascending; for "load older" in the UI. */
  loadOlder(sessionId: string, beforeSeq: number, limit = this.opts.historyLimit ?? 100): Promise<ClientSessionEvent[]> {
    return this.history.latest(sessionId, limit, beforeSeq);
  }

  getConnectionState(): ConnectionState {
    return this.state;
  }

  getSessionState(sessionId: string): ConnectionState {
    return this.streams.get(sessionId)?.getState() ?? CLOSED;
  }

  /** Calls `listener` with `{oldState, newState, reason}` on every change of the overall state. */
  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onSessionStateChange(sessionId: string, listener: StateListener): () => void {
    let set = this.sessionListeners.get(sessionId);
    if (!set) this.sessionListeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Calls `listener` with each failure of this session's stream (the service keeps retrying). */
  onError(sessionId: string, listener: (error: RealtimeClientError) => void): () => void {
    let set = this.errorListeners.get(sessionId);
    if (!set) this.errorListeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Reconnects every stream now instead of waiting out the backoff (also done on network/app-state events). */
  reconnectNow(): void {
    this.wake('reconnect requested');
  }

  /** Stops every stream and detaches from the platform sources. */
  async close(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    const streams = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(streams.map((s) => s.stop()));
    this.refresh('closed');
  }

  private streamDeps(sessionId: string) {
    const o = this.opts;
    return {
      supabase: o.supabase,
      history: this.history,
      clock: o.clock ?? systemClock,
      random: o.random ?? Math.random,
      backoff: o.backoff ?? DEFAULT_BACKOFF,
      attemptTimeoutMs: o.attemptTimeoutMs ?? 15_000,
      minUptimeMs: o.minUptimeMs ?? 10_000,
      pageSize: o.pageSize ?? 500,
      privateChannel: o.privateChannel ?? true,
      historyLimit: o.historyLimit ?? 100,
      accessToken: o.accessToken,
      isOnline: () => this.online,
      onError: (error: RealtimeClientError, id: string) => {
        o.onError?.(error, id);
        for (const l of this.errorListeners.get(id) ?? []) l(error);
      },
      onState: (change: StateChange) => {
        for (const l of this.sessionListeners.get(sessionId) ?? []) l(change);
        this.refresh(change.reason);
      },
    };
  }

  private setOnline(online: boolean): void {
    if (online === this.online) return;
    this.online = online;
    if (online) this.wake('network back');
    else for (const s of this.streams.values()) s.goOffline();
  }

  private wake(reason: string): void {
    for (const s of this.streams.values()) s.wake(reason);
  }

  private refresh(reason: string): void {
    const next = aggregate([...this.streams.values()].map((s) => s.getState()));
    const old = this.state;
    if (sameState(old, next)) return;
    this.state = next;
    for (const l of this.listeners) l({ oldState: old, newState: next, reason });
  }
}
