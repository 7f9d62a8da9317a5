/**
 * The change feed (internal): committed changes of the `supabase_realtime` publication's tables, read from the
 * WAL by logical replication (pgoutput), in commit order.
 *
 * Each server process streams from a temporary replication slot of its own, created on the replication
 * connection and dropped by PostgreSQL when that connection ends (see docs/backend/REALTIME.md, "Change
 * capture"). A temporary slot starts at the present, so whenever the stream is lost (server crash, PostgreSQL
 * restart, a cut network, an invalidated slot) changes may have been missed: the feed goes `down` (the hub tells
 * every postgres_changes channel, so clients rejoin and catch up over REST), reconnects with a fresh slot after
 * a backoff, and goes `up` again. WAL positions are acknowledged only once what they cover was delivered (or,
 * while nothing is pending, up to the server's keepalive position), so the slot holds back no more WAL than needed.
 *
 * The connection is pg-logical-replication's (replication mode, keepalives, standby status); decoding is
 * pgoutput.ts and walChanges.ts, which keep values as PostgreSQL's text and render them as row_to_json does.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import { backoff } from '../backoff.js';
import type { Logger } from '../logger.js';
import { PUBLICATION, type Catalog } from './catalog.js';
import type { Change } from './changes.js';
import { TypeRegistry } from './pgJson.js';
import { decodePgoutput, formatLsn, type WalMessage } from './pgoutput.js';
import { ChangeRenderer, messagesOf, TransactionAssembler, type DbMessage, type Transaction, type WalNote } from './walChanges.js';

export const FeedState = { Starting: 'starting', Up: 'up', Down: 'down', Closed: 'closed' } as const;
export type FeedState = (typeof FeedState)[keyof typeof FeedState];

export interface FeedStateChange {
  oldState: FeedState;
  newState: FeedState;
  reason: string;
}

/** application_name of the replication connection (pg_stat_activity, pg_stat_replication). */
export const FEED_APP_NAME = 'mobvibe-realtime-wal';
/** Prefix of the feed's temporary slot names: `mobvibe_realtime_<node id>_<random>` (a node id is `<pid>_<random>`). */
export const SLOT_PREFIX = 'mobvibe_realtime_';
/** The publication of realtime.messages (Broadcast from Database), named as hosted Supabase names it. */
export const MESSAGES_PUBLICATION = 'supabase_realtime_messages_publication';

/** A node id for this process: what its slot names start with after SLOT_PREFIX (nodes.ts). */
export const newNodeId = (): string => `${process.pid}_${randomBytes(3).toString('hex')}`;
/**
 * Session settings of the replication connection: the text outputs pgJson.ts parses have one known shape, and
 * timestamps render in UTC (as row_to_json under TimeZone=UTC).
 */
export const RENDER_SETTINGS = '-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=1';

export interface ChangeFeedOptions {
  databaseUrl: string;
  /** Pool for the feed's own queries (types of new columns, values PostgreSQL renders); RENDER_SETTINGS applied. */
  pool: pg.Pool;
  /** The publication's tables; the feed keeps it current from the WAL's relation messages. */
  catalog: Catalog;
  /** Rows over this many bytes of JSON travel as keys only (limits.ts maxLiveRowBytes). */
  maxLiveRowBytes: number;
  /** This process's node id (newNodeId): its slots are named after it, so other nodes can tell it is alive. */
  nodeId?: string;
  logger: Logger;
  onChanges(changes: Change[]): void;
  /** Rows inserted into realtime.messages (Broadcast from Database), in commit order, after the transaction's changes. */
  onMessages?(messages: DbMessage[]): void;
  /** A logical decoding message (pg_logical_emit_message), in stream order (a transaction's after its changes). */
  onNote?(note: WalNote): void;
  onStateChange(change: FeedStateChange): void;
  /** How often the stream is asked for a keepalive; silence for three times this fails it (a half-open TCP). */
  healthCheckMs?: number;
  /** Delay before reconnect attempt n (1, 2, …). */
  backoff?: (attempt: number) => number;
}

/**
 * pg-logical-replication's plugin interface for pgoutput, decoding with pgoutput.ts (raw text values) and
 * creating the temporary slot on the replication connection itself (a temporary slot lives with its session).
 */
class TemporarySlotPgoutput {
  readonly options = {};
  get name(): string {
    return 'pgoutput';
  }
  parse(buffer: Buffer): WalMessage {
    // A copy: the decoded message keeps its values as slices of this buffer until its transaction commits, and
    // pg's protocol parser reuses its own buffer for messages that span TCP reads (a big row's text was found
    // overwritten by later messages).
    return decodePgoutput(Buffer.from(buffer));
  }
  async start(client: pg.Client, slotName: string): Promise<unknown> {
    const slot = pg.escapeIdentifier(slotName);
    await client.query(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'nothing')`);
    const publications = pg.escapeLiteral(`${PUBLICATION},${MESSAGES_PUBLICATION}`);
    return client.query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names ${publications}, messages 'true')`);
  }
}

/** A transaction or a non-transactional note, waiting its turn. */
type Queued = { tx: Transaction } | { note: WalNote };

export class ChangeFeed {
  private state: FeedState = FeedState.Starting;
  private service: LogicalReplicationService | undefined;
  /** Bumped whenever the stream is replaced; late events of an older one compare unequal. */
  private generation = 0;
  private assembler = new TransactionAssembler();
  private readonly types: TypeRegistry;
  private readonly renderer: ChangeRenderer;
  private queue: Queued[] = [];
  /** A queued transaction waits for PostgreSQL (types, rendering): later ones wait behind it. */
  private busy = false;
  /** End of the last delivered transaction, and the server's position from its last keepalive. */
  private deliveredLsn = 0n;
  private keepaliveLsn = 0n;
  private lastHeard = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;

  readonly nodeId: string;

  constructor(private readonly opts: ChangeFeedOptions) {
    this.nodeId = opts.nodeId ?? newNodeId();
    this.types = new TypeRegistry(opts.pool);
    this.renderer = new ChangeRenderer(this.types, opts.catalog, opts.pool, opts.maxLiveRowBytes);
  }

  private get healthCheckMs(): number {
    return this.opts.healthCheckMs ?? 10_000;
  }

  get isUp(): boolean {
    return this.state === FeedState.Up;
  }

  get currentState(): FeedState {
    return this.state;
  }

  /** Connects and starts streaming. Resolves after the first attempt, successful or not; failures keep retrying. */
  async start(): Promise<void> {
    const every = this.healthCheckMs;
    this.healthTimer = setInterval(() => this.checkHealth(every), every);
    this.healthTimer.unref();
    await this.connect();
  }

  async close(): Promise<void> {
    this.setState(FeedState.Closed, 'server closing');
    this.generation++;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    this.queue = [];
    const service = this.service;
    this.service = undefined;
    // A half-open connection may never answer the goodbye: the server does not wait for it.
    await Promise.race([service?.destroy().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.assembler = new TransactionAssembler();
    this.queue = [];
    this.busy = false;
    this.deliveredLsn = 0n;
    this.keepaliveLsn = 0n;
    // PostgreSQL ends this stream (and drops its temporary slot) once the server has been silent for three
    // health rounds: a server that vanished without closing its connection holds no WAL back for long.
    const senderTimeout = `-c wal_sender_timeout=${3 * this.healthCheckMs}`;
    const service = new LogicalReplicationService(
      { connectionString: this.opts.databaseUrl, application_name: FEED_APP_NAME, keepAlive: true, options: `${RENDER_SETTINGS} ${senderTimeout}` },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    this.service = service;
    service.on('error', (err: Error) => this.fail(generation, err));
    service.on('start', () => {
      if (generation !== this.generation) return;
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.setState(FeedState.Up, 'streaming changes from the WAL');
    });
    service.on('heartbeat', (lsn: string, _time: number, shouldRespond: boolean) => {
      if (generation !== this.generation) return;
      this.lastHeard = Date.now();
      this.keepaliveLsn = parseLsn(lsn);
      if (shouldRespond) this.acknowledge();
    });
    service.on('data', (_lsn: string, msg: WalMessage) => {
      if (generation !== this.generation) return;
      this.lastHeard = Date.now();
      try {
        const out = this.assembler.push(msg);
        if (!out) return;
        this.queue.push('prefix' in out ? { note: out } : { tx: out });
        if (!this.busy) this.drain(generation);
      } catch (err) {
        this.fail(generation, err);
      }
    });
    try {
      await this.types.loadAll();
      if (generation !== this.generation) return;
      const slot = `${SLOT_PREFIX}${this.nodeId}_${randomBytes(2).toString('hex')}`;
      // Resolves when the stream ends: for this feed, always a failure unless it is closing.
      void service.subscribe(new TemporarySlotPgoutput() as never, slot).then(
        () => this.fail(generation, new Error('the replication stream ended')),
        (err: unknown) => this.fail(generation, err),
      );
      await new Promise<void>((resolve) => {
        const settle = () => resolve();
        service.once('start', settle);
        service.once('error', settle);
        setTimeout(settle, 10_000).unref();
      });
    } catch (err) {
      this.fail(generation, err);
    }
  }

  private fail(generation: number, err: unknown): void {
    if (generation !== this.generation || this.state === FeedState.Closed) return;
    this.generation++;
    const service = this.service;
    this.service = undefined;
    service?.destroy().catch(() => undefined);
    this.queue = [];
    const reason = (err as Error)?.message ?? String(err);
    this.opts.logger.warn({ err }, 'realtime change feed lost its replication stream; reconnecting');
    this.setState(FeedState.Down, reason);
    const delay = (this.opts.backoff ?? ((n) => backoff(n, { baseMs: 100, capMs: 5_000 })))(++this.attempt);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  /** Asks for a keepalive (standby status with "reply"); a stream silent for three rounds is failed. */
  private checkHealth(every: number): void {
    if (!this.service || this.state !== FeedState.Up) return;
    if (Date.now() - this.lastHeard > 3 * every) {
      this.fail(this.generation, new Error(`the replication stream was silent for ${Math.round((Date.now() - this.lastHeard) / 1000)} s`));
      return;
    }
    this.acknowledge(true);
  }

  /** Reports as flushed what was delivered, or the server's position while nothing is pending. */
  private acknowledge(ping = false): void {
    const idle = this.queue.length === 0 && !this.assembler.inTransaction;
    const lsn = idle && this.keepaliveLsn > this.deliveredLsn ? this.keepaliveLsn : this.deliveredLsn;
    if (lsn === 0n && !ping) return;
    // The library reports "last byte + 1" of what it is given, while a commit's end LSN and a keepalive's WAL
    // end already are positions past the last byte: it gets lsn - 1, so PostgreSQL hears exactly lsn. Exactness
    // matters: at shutdown a walsender exits only once the reported flush position equals what it sent, and a
    // position one past it kept PostgreSQL's fast shutdown waiting until it was killed.
    void this.service?.acknowledge(formatLsn(lsn > 0n ? lsn - 1n : 0n), ping).catch(() => undefined);
  }

  private setState(next: FeedState, reason: string): void {
    const old = this.state;
    if (old === next || old === FeedState.Closed) return;
    this.state = next;
    this.opts.logger.info({ oldState: old, newState: next, reason }, 'realtime change feed state');
    this.opts.onStateChange({ oldState: old, newState: next, reason });
  }

  /**
   * Delivers queued transactions in commit order, synchronously while they need nothing from PostgreSQL; one
   * that needs a type or a value rendered holds the ones behind it until it is done.
   */
  private drain(generation: number): void {
    while (this.queue.length > 0 && generation === this.generation) {
      const item = this.queue[0]!;
      if ('note' in item) {
        this.queue.shift();
        this.guard(() => this.opts.onNote?.(item.note));
        continue;
      }
      const unknown = this.renderer.unknownTypes(item.tx);
      if (unknown.length > 0) return this.wait(generation, this.types.ensure(unknown));
      let rendered: Change[] | Promise<Change[]>;
      try {
        rendered = this.renderer.render(item.tx);
      } catch (err) {
        return this.fail(generation, err);
      }
      if (rendered instanceof Promise) {
        return this.wait(
          generation,
          rendered.then((changes) => {
            if (generation !== this.generation) return;
            this.queue.shift();
            this.deliver(changes, item.tx);
          }),
        );
      }
      this.queue.shift();
      this.deliver(rendered, item.tx);
    }
  }

  private wait(generation: number, work: Promise<unknown>): void {
    this.busy = true;
    work.then(
      () => {
        if (generation !== this.generation) return;
        this.busy = false;
        this.drain(generation);
      },
      (err: unknown) => this.fail(generation, err),
    );
  }

  private deliver(changes: Change[], tx: Transaction): void {
    if (changes.length > 0) this.guard(() => this.opts.onChanges(changes));
    const messages = messagesOf(tx);
    if (messages.length > 0) this.guard(() => this.opts.onMessages?.(messages));
    for (const note of tx.notes) this.guard(() => this.opts.onNote?.(note));
    this.deliveredLsn = tx.endLsn;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error({ err }, 'delivering changes failed');
    }
  }
}

function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi ?? '0'}`) << 32n) | BigInt(`0x${lo ?? '0'}`);
}
