/**
 * What an operator watches, in Prometheus text format at `GET /metrics` (prom-client): sockets and channels,
 * joins and their refusals, changes captured and messages delivered, delivery lag from commit to send, HTTP
 * requests by API and status with their latency, the change feed, the PostgreSQL pools, and the process itself
 * (prom-client's default metrics: memory, CPU, event loop lag, handles).
 *
 * One {@link Metrics} per server (its own registry, so several servers in one process do not mix). Hot paths
 * hold pre-labelled children, so counting a frame is one addition. Who may read `/metrics` is
 * {@link MetricsAccess}, set by `MOBVIBE_METRICS` (config.ts).
 */
import client from 'prom-client';

/** The APIs HTTP requests are counted under (a fixed set: a hostile path never becomes a label value). */
export const HttpApi = ['rest', 'broadcast', 'health', 'ready', 'metrics', 'app', 'other'] as const;
export type HttpApi = (typeof HttpApi)[number];

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS']);

/** Kinds of frames sent to sockets (connection.ts FrameKind), as labels. */
export type DeliveredKind = 'control' | 'changes' | 'ephemeral';

/** What the gauges read when scraped. */
export interface MetricsSources {
  /** Open sockets by the role of their apikey (anon, authenticated, service_role). */
  socketsByRole(): Map<string, number>;
  /** Joined channels, public and private. */
  channels(): { public: number; private: number };
  /** postgres_changes bindings held by joined channels. */
  bindings(): number;
  /** Whether the change feed is streaming changes from PostgreSQL. */
  feedUp(): boolean;
  /** PostgreSQL pools: connections open, idle, and requests waiting for one. */
  pools(): Array<{ pool: string; total: number; idle: number; waiting: number }>;
}

export class Metrics {
  readonly registry = new client.Registry();
  private sources: MetricsSources | undefined;

  private readonly joins = new client.Counter({
    name: 'mobvibe_realtime_joins_total', help: 'Channel joins answered ok.', registers: [this.registry],
  });
  private readonly joinsRefused = new client.Counter({
    name: 'mobvibe_realtime_joins_refused_total', help: 'Channel joins refused, by reason (the error code the client got).',
    labelNames: ['reason'], registers: [this.registry],
  });
  private readonly captured = new client.Counter({
    name: 'mobvibe_realtime_changes_captured_total', help: 'Committed row changes received from the change feed, by table and type.',
    labelNames: ['table', 'type'], registers: [this.registry],
  });
  private readonly delivered = new client.Counter({
    name: 'mobvibe_realtime_messages_delivered_total',
    help: 'Frames queued to sockets, by kind: changes (postgres_changes), ephemeral (broadcast, presence), control (replies, system).',
    labelNames: ['kind'], registers: [this.registry],
  });
  private readonly dropped = new client.Counter({
    name: 'mobvibe_realtime_messages_dropped_total',
    help: 'Frames not sent to a slow reader, by kind: ephemeral (dropped), changes (the channel was asked to rejoin).',
    labelNames: ['kind'], registers: [this.registry],
  });
  private readonly lag = new client.Histogram({
    name: 'mobvibe_realtime_delivery_lag_seconds',
    help: 'From a change\'s commit (PostgreSQL commit timestamp) to its frames being queued to the sockets that match it.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly feedReconnects = new client.Counter({
    name: 'mobvibe_realtime_change_feed_reconnects_total', help: 'Times the change feed came back up after losing PostgreSQL.', registers: [this.registry],
  });
  private readonly httpRequests = new client.Counter({
    name: 'mobvibe_http_requests_total', help: 'HTTP requests answered, by API, method and status.',
    labelNames: ['api', 'method', 'status'], registers: [this.registry],
  });
  private readonly httpDuration = new client.Histogram({
    name: 'mobvibe_http_request_duration_seconds', help: 'From a request\'s arrival to the end of its answer, by API.',
    labelNames: ['api'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly deliveredBy: Record<DeliveredKind, client.Counter.Internal>;
  private readonly droppedBy: Record<'changes' | 'ephemeral', client.Counter.Internal>;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    this.deliveredBy = { control: this.delivered.labels('control'), changes: this.delivered.labels('changes'), ephemeral: this.delivered.labels('ephemeral') };
    this.droppedBy = { changes: this.dropped.labels('changes'), ephemeral: this.dropped.labels('ephemeral') };
    const read = () => this.sources;
    new client.Gauge({
      name: 'mobvibe_realtime_sockets', help: 'Open Realtime sockets, by the role of their apikey.', labelNames: ['role'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [role, n] of read()?.socketsByRole() ?? []) this.set({ role }, n);
      },
    });
    new client.Gauge({
      name: 'mobvibe_realtime_channels', help: 'Joined channels, by access (public, private).', labelNames: ['access'], registers: [this.registry],
      collect() {
        const c = read()?.channels() ?? { public: 0, private: 0 };
        this.set({ access: 'public' }, c.public);
        this.set({ access: 'private' }, c.private);
      },
    });
    new client.Gauge({
      name: 'mobvibe_realtime_postgres_changes_bindings', help: 'postgres_changes bindings held by joined channels.', registers: [this.registry],
      collect() {
        this.set(read()?.bindings() ?? 0);
      },
    });
    new client.Gauge({
      name: 'mobvibe_realtime_change_feed_up', help: '1 while the change feed streams changes from PostgreSQL (logical replication), else 0.', registers: [this.registry],
      collect() {
        this.set(read()?.feedUp() ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'mobvibe_db_pool_connections', help: 'PostgreSQL pool connections by pool (rest: requests and joins; feed: the change feed) and state.',
      labelNames: ['pool', 'state'], registers: [this.registry],
      collect() {
        for (const p of read()?.pools() ?? []) {
          this.set({ pool: p.pool, state: 'total' }, p.total);
          this.set({ pool: p.pool, state: 'idle' }, p.idle);
          this.set({ pool: p.pool, state: 'waiting' }, p.waiting);
        }
      },
    });
  }

  /** Where the gauges read from; set once the parts they read exist. */
  observe(sources: MetricsSources): void {
    this.sources = sources;
  }

  joined(): void {
    this.joins.inc();
  }

  joinRefused(reason: string): void {
    this.joinsRefused.inc({ reason });
  }

  changeCaptured(table: string, type: string): void {
    this.captured.inc({ table, type });
  }

  /** A change matched subscribers and its frames were queued, `lagMs` after its commit. */
  changeSent(lagMs: number): void {
    if (Number.isFinite(lagMs)) this.lag.observe(Math.max(0, lagMs) / 1000);
  }

  frameDelivered(kind: DeliveredKind): void {
    this.deliveredBy[kind].inc();
  }

  frameDropped(kind: 'changes' | 'ephemeral'): void {
    this.droppedBy[kind].inc();
  }

  feedReconnected(): void {
    this.feedReconnects.inc();
  }

  /** An HTTP request was answered with `status`, `seconds` after it arrived. */
  httpAnswered(api: HttpApi, method: string | undefined, status: number, seconds: number): void {
    this.httpRequests.inc({ api, method: method && KNOWN_METHODS.has(method) ? method : 'other', status: String(status) });
    this.httpDuration.observe({ api }, seconds);
  }

  /** The text a Prometheus scrape reads, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
