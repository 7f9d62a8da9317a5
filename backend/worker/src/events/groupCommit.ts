/**
 * @internal Group commit for the EventEmitter: emits issued close together (any sessions) are sent as one
 * request, hence one transaction and one WAL flush, instead of one each. Each caller still gets its own stored
 * record, and only once the batch has committed. Off unless `groupCommit` is set.
 */
export interface GroupCommitOptions {
  /** Longest an emit waits for companions before its batch is sent. */
  maxDelayMs: number;
  /** A batch is sent as soon as it holds this many events (at most MAX_EVENTS_PER_BATCH). */
  maxEvents: number;
  /**
   * Batches in flight at once. While they are busy, new emits gather into the next batch, so batches grow
   * with load instead of requests piling up (adaptive group commit). A session's events are never in two
   * batches in flight at once: an event whose session is busy waits for that batch, so each session's events
   * are stored in the order `emit` was called, while other sessions' events go ahead. Default 1: more batches
   * in flight means more, smaller transactions, which costs a saturated machine more than the wait saves.
   */
  maxInFlight: number;
}

interface Waiting<Row, Result> {
  row: Row;
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<Row extends { id: string; session_id: string }, Result extends { id: string }> {
  private queue: Waiting<Row, Result>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = 0;
  /** Sessions with events in a batch in flight. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly opts: GroupCommitOptions,
    /** Stores the rows; answers per id with the stored record or the error that refused it. */
    private readonly send: (rows: Row[]) => Promise<Map<string, Result | Error>>,
  ) {}

  add(row: Row): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.queue.length >= this.opts.maxEvents) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.maxDelayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight >= this.opts.maxInFlight) return; // a batch in flight calls flush() when it ends
    const batch = this.take();
    if (batch.length === 0) return; // everything waiting belongs to busy sessions: their batches call flush()
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), 0);
    this.inFlight++;
    const sessions = new Set(batch.map((w) => w.row.session_id));
    sessions.forEach((s) => this.busy.add(s));
    this.send(batch.map((w) => w.row)).then(
      (answers) => {
        for (const w of batch) {
          const answer = answers.get(w.row.id);
          if (answer instanceof Error) w.reject(answer);
          else if (answer) w.resolve(answer);
          else w.reject(new Error(`event ${w.row.id} missing from its batch's answer`));
        }
      },
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    ).finally(() => {
      this.inFlight--;
      sessions.forEach((s) => this.busy.delete(s));
      if (this.queue.length > 0) this.flush();
    });
  }

  /** The next batch: waiting events, in order, of sessions not in flight (the rest keep their places). */
  private take(): Waiting<Row, Result>[] {
    if (this.busy.size === 0) return this.queue.splice(0, this.opts.maxEvents);
    const batch: Waiting<Row, Result>[] = [];
    const rest: Waiting<Row, Result>[] = [];
    for (const w of this.queue) {
      if (batch.length < this.opts.maxEvents && !this.busy.has(w.row.session_id)) batch.push(w);
      else rest.push(w);
    }
    this.queue = rest;
    return batch;
  }
}
