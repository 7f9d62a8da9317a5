/**
 * The change feed (internal): one dedicated LISTEN connection per server process and one ordered queue.
 *
 * Notifications arrive in commit order. Everything pending is taken as one batch whose rows are fetched with one
 * query; changes are handed over batch by batch in arrival order, so a session's seq order is never broken.
 * If the LISTEN connection is lost, notifications may have been missed: the feed goes `down` (the hub tells
 * every postgres_changes channel so clients rejoin and catch up), reconnects with backoff, and goes `up` again.
 */
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Catalog } from './catalog.js';
import type { Change } from './changes.js';
import { ChangeReader, NOTIFY_CHANNEL, parseNotice, type Notice } from './notices.js';

export const FeedState = { Starting: 'starting', Up: 'up', Down: 'down', Closed: 'closed' } as const;
export type FeedState = (typeof FeedState)[keyof typeof FeedState];

export interface FeedStateChange {
  oldState: FeedState;
  newState: FeedState;
  reason: string;
}

/** application_name of the LISTEN connection (visible in pg_stat_activity). */
export const LISTENER_APP_NAME = 'mobvibe-realtime-listener';

export interface ChangeFeedOptions {
  databaseUrl: string;
  /** Pool the rows are fetched with (the server's superuser pool: no RLS). */
  pool: pg.Pool;
  catalog: Catalog;
  /** Rows over this many bytes of JSON travel as keys only (limits.ts maxLiveRowBytes). */
  maxLiveRowBytes: number;
  logger: Logger;
  onChanges(changes: Change[]): void;
  onStateChange(change: FeedStateChange): void;
  /** How often the LISTEN connection is checked with `select 1` (half-open TCP shows no error by itself). */
  healthCheckMs?: number;
  /** Delay before reconnect attempt n (1, 2, …). */
  backoff?: (attempt: number) => number;
}

/**
 * Full-jitter exponential backoff with a cap.
 *
 * @example
 * backoff(3, { baseMs: 100, capMs: 5000 }) // somewhere in [0, 800)
 */
export function backoff(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt)));
}

const MAX_BATCH = 500;
const MAX_READS_IN_FLIGHT = 2;

interface Pending {
  payload: string;
  receivedAt: number;
}

export class ChangeFeed {
  private state: FeedState = FeedState.Starting;
  private client: pg.Client | undefined;
  /** Bumped whenever the connection is replaced; late events of an older connection compare unequal. */
  private generation = 0;
  private reader: ChangeReader | undefined;
  private queue: Pending[] = [];
  /** Batches being fetched, and the chain that delivers them in order. */
  private reading = 0;
  private delivered: Promise<void> = Promise.resolve();
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ChangeFeedOptions) {}

  get isUp(): boolean {
    return this.state === FeedState.Up;
  }

  get currentState(): FeedState {
    return this.state;
  }

  /** Connects and LISTENs. Resolves after the first attempt, successful or not; failures keep retrying. */
  async start(): Promise<void> {
    this.healthTimer = setInterval(() => this.checkHealth(), this.opts.healthCheckMs ?? 15_000);
    this.healthTimer.unref();
    await this.connect();
  }

  async close(): Promise<void> {
    this.setState(FeedState.Closed, 'server closing');
    this.generation++;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    this.queue = [];
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: LISTENER_APP_NAME, keepAlive: true });
    this.client = client;
    client.on('error', (err) => this.fail(generation, err));
    client.on('end', () => this.fail(generation, new Error('the LISTEN connection closed')));
    client.on('notification', (msg) => {
      if (generation === this.generation && msg.channel === NOTIFY_CHANNEL) this.enqueue(msg.payload ?? '');
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ on: boolean }>(`select current_setting('track_commit_timestamp') = 'on' as on`);
      // Ready before LISTEN: a notification may be emitted before the LISTEN promise continues.
      this.reader = new ChangeReader(this.opts.pool, this.opts.catalog, rows[0]?.on === true, this.opts.maxLiveRowBytes);
      await client.query(`listen ${NOTIFY_CHANNEL}`);
      if (generation !== this.generation) return;
      this.attempt = 0;
      this.setState(FeedState.Up, 'listening for changes');
    } catch (err) {
      this.fail(generation, err);
    }
  }

  private fail(generation: number, err: unknown): void {
    if (generation !== this.generation || this.state === FeedState.Closed) return;
    this.generation++;
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
    this.queue = [];
    const reason = (err as Error)?.message ?? String(err);
    this.opts.logger.warn({ err }, 'realtime change feed lost its PostgreSQL connection; reconnecting');
    this.setState(FeedState.Down, reason);
    const delay = (this.opts.backoff ?? ((n) => backoff(n, { baseMs: 100, capMs: 5_000 })))(++this.attempt);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private checkHealth(): void {
    const { client, generation } = this;
    if (!client || this.state !== FeedState.Up) return;
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('LISTEN connection health check timed out')), 10_000).unref());
    Promise.race([client.query('select 1'), timeout]).catch((err: unknown) => this.fail(generation, err));
  }

  private setState(next: FeedState, reason: string): void {
    const old = this.state;
    if (old === next || old === FeedState.Closed) return;
    this.state = next;
    this.opts.logger.info({ oldState: old, newState: next, reason }, 'realtime change feed state');
    this.opts.onStateChange({ oldState: old, newState: next, reason });
  }

  private enqueue(payload: string): void {
    this.queue.push({ payload, receivedAt: Date.now() });
    if (this.reading < MAX_READS_IN_FLIGHT) this.startRead();
  }

  /**
   * Starts fetching everything pending. Up to MAX_READS_IN_FLIGHT batches are fetched at once (one per feed
   * pool connection), so a slow query does not hold up the next batch; deliveries are chained in start order,
   * which is arrival (= commit) order. A failed fetch fails the feed: clients are told to catch up.
   */
  private startRead(): void {
    if (this.queue.length === 0 || !this.reader) return;
    const generation = this.generation;
    const notices = this.parse(this.queue.splice(0, MAX_BATCH));
    // Settled at once, so a rejection waiting for its turn in the chain is never "unhandled".
    const read = this.reader.read(notices).then(
      (changes) => ({ changes }),
      (error: unknown) => ({ error }),
    );
    this.reading++;
    this.delivered = this.delivered.then(async () => {
      const result = await read;
      this.reading--;
      if (generation === this.generation) {
        if ('error' in result) this.fail(generation, result.error);
        else this.deliver(result.changes);
      }
      if (this.reading < MAX_READS_IN_FLIGHT) this.startRead();
    });
  }

  private parse(batch: Pending[]): Notice[] {
    const notices: Notice[] = [];
    for (const { payload, receivedAt } of batch) {
      try {
        notices.push(parseNotice(payload, this.opts.catalog, receivedAt));
      } catch (err) {
        this.opts.logger.warn({ err, payload: payload.slice(0, 200) }, `ignored a malformed ${NOTIFY_CHANNEL} notification`);
      }
    }
    return notices;
  }

  private deliver(changes: Change[]): void {
    try {
      this.opts.onChanges(changes);
    } catch (err) {
      this.opts.logger.error({ err }, 'delivering changes failed');
    }
  }
}
