/**
 * postgres_changes bindings and the index that routes each change to its subscribers (internal).
 *
 * A binding's id is a stable hash of (event, schema, table, filter): identical bindings on different sockets
 * share an id, so one change frame per topic and id set is serialised once and sent to every socket.
 */
import { createHash } from 'node:crypto';
import { REALTIME_SCHEMA, type Catalog } from './catalog.js';
import { ALL_CHANGES, ChangeType, type BindingEvent } from './constants.js';
import { RealtimeError, RealtimeErrorCode } from './errors.js';
import { indexKey, isIndexable, matchesAll, parseFilter, rowValue, type Condition, type ValueKind } from './filters.js';
import type { RawBinding } from './messages.js';

export interface PostgresBinding {
  id: number;
  event: BindingEvent;
  table: string | undefined;
  conditions: Condition[];
  /** The client's binding as sent: the join reply echoes it, plus `id`. */
  raw: RawBinding;
}

const EVENTS = new Set<string>([ChangeType.Insert, ChangeType.Update, ChangeType.Delete, ALL_CHANGES]);
const invalid = (message: string) => new RealtimeError(RealtimeErrorCode.InvalidPostgresChanges, message);

/** 31-bit, never 0 (the client ignores a falsy id). */
export function bindingId(event: string, schema: string, table: string | undefined, filter: string | undefined): number {
  const digest = createHash('sha1').update(JSON.stringify([event.toUpperCase(), schema, table ?? '', filter ?? ''])).digest();
  return digest.readUInt32BE(0) & 0x7fffffff || 1;
}

/** Validates the join's bindings against the realtime tables; throws InvalidPostgresChanges. */
export function parseBindings(raw: RawBinding[], catalog: Catalog, max: number): PostgresBinding[] {
  if (raw.length > max) throw invalid(`at most ${max} postgres_changes bindings per channel, got ${raw.length}`);
  return raw.map((b) => {
    const event = b.event.toUpperCase();
    if (!EVENTS.has(event)) throw invalid(`event ${JSON.stringify(b.event)} must be one of INSERT, UPDATE, DELETE, *`);
    if (b.schema !== REALTIME_SCHEMA) throw invalid(`schema ${JSON.stringify(b.schema)} has no realtime tables; use "${REALTIME_SCHEMA}"`);
    const table = b.table === undefined || b.table === '*' ? undefined : b.table;
    const meta = table === undefined ? undefined : catalog.get(table);
    if (table !== undefined && !meta) throw invalid(`table "${table}" is not enabled for realtime; enabled: ${[...catalog.keys()].join(', ')}`);
    if (!meta && b.filter) throw invalid('a filter needs a table');
    const conditions = meta ? parseFilter(b.filter, meta.columns) : [];
    const id = bindingId(event, b.schema, table, b.filter);
    return { id, event: event as BindingEvent, table, conditions, raw: b };
  });
}

/** One binding of one channel, as the index holds it. */
export interface Subscription<C> {
  channel: C;
  binding: PostgresBinding;
}

interface ColumnIndex<C> {
  kind: ValueKind;
  /** value key -> subscriptions whose indexed condition is eq/in on that value. */
  buckets: Map<string, Set<Subscription<C>>>;
}

interface TableIndex<C> {
  byColumn: Map<string, ColumnIndex<C>>;
  /** Subscriptions no index can serve (no filter, ranges, negations): checked on every change of the table. */
  scan: Set<Subscription<C>>;
}

/**
 * Subscriptions by (table, column = value), so routing a change costs its matches, not the number of
 * subscribers. `C` is the channel type.
 */
export class SubscriptionIndex<C> {
  private readonly tables = new Map<string, TableIndex<C>>();
  /** Bindings without a table: every change of every realtime table. */
  private readonly anyTable = new Set<Subscription<C>>();

  add(sub: Subscription<C>): void {
    this.place(sub, (bucket) => bucket.add(sub));
  }

  remove(sub: Subscription<C>): void {
    this.place(sub, (bucket) => bucket.delete(sub));
  }

  /** Channels that should receive a change, with the ids of their bindings it satisfies (ascending). */
  match(table: string, type: ChangeType, row: Record<string, unknown>): Map<C, number[]> {
    const result = new Map<C, number[]>();
    const consider = (sub: Subscription<C>) => {
      const b = sub.binding;
      if (b.event !== ALL_CHANGES && b.event !== type) return;
      if (!matchesAll(b.conditions, row)) return;
      const ids = result.get(sub.channel);
      if (!ids) result.set(sub.channel, [b.id]);
      else if (!ids.includes(b.id)) ids.push(b.id);
    };
    this.anyTable.forEach(consider);
    const index = this.tables.get(table);
    if (index) {
      index.scan.forEach(consider);
      for (const [column, { kind, buckets }] of index.byColumn) {
        const value = rowValue(kind, row[column]);
        if (value !== undefined) buckets.get(indexKey(value))?.forEach(consider);
      }
    }
    for (const ids of result.values()) ids.sort((a, b) => a - b);
    return result;
  }

  /** Subscriptions whose indexed condition is `column` = `value` (e.g. every channel bound to one session). */
  subscribersOf(table: string, column: string, value: string | number | boolean): Subscription<C>[] {
    return [...(this.tables.get(table)?.byColumn.get(column)?.buckets.get(indexKey(value)) ?? [])];
  }

  private place(sub: Subscription<C>, apply: (bucket: Set<Subscription<C>>) => void): void {
    const { table, conditions } = sub.binding;
    if (table === undefined) return apply(this.anyTable);
    let index = this.tables.get(table);
    if (!index) this.tables.set(table, (index = { byColumn: new Map(), scan: new Set() }));
    const key = conditions.find(isIndexable);
    if (!key) return apply(index.scan);
    let column = index.byColumn.get(key.column);
    if (!column) index.byColumn.set(key.column, (column = { kind: key.kind, buckets: new Map() }));
    for (const value of key.values) {
      const k = indexKey(value);
      let bucket = column.buckets.get(k);
      if (!bucket) column.buckets.set(k, (bucket = new Set()));
      apply(bucket);
      if (bucket.size === 0) column.buckets.delete(k);
    }
  }
}
