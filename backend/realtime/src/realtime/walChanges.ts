/**
 * From decoded pgoutput messages to the changes Realtime delivers (internal): transactions are gathered from
 * BEGIN to COMMIT and turned into Change objects in commit order, every row rendered as `row_to_json` would
 * render it (pgJson.ts), with the commit time of the COMMIT.
 *
 * Rows over the live-size cap (limits.ts maxLiveRowBytes) travel with only their fields of at most 64 bytes of
 * JSON and `trimmed` set (reported to clients as "Error 413: Payload Too Large", as Supabase does); their big
 * values are never even decoded. An UPDATE whose new row has an unchanged TOASTed value that the WAL did not
 * carry takes it from the old row (REPLICA IDENTITY FULL); without the old row the value is unknown, so the
 * change is sent trimmed and the client reads the row by REST.
 */
import type pg from 'pg';
import { REALTIME_SCHEMA, type Catalog } from './catalog.js';
import type { Change, Row } from './changes.js';
import { ChangeType } from './constants.js';
import { NEEDS_SQL, renderValue, type PgType, type TypeRegistry } from './pgJson.js';
import { UNCHANGED, type RawValue, type Relation, type WalMessage } from './pgoutput.js';

/** A row change inside a transaction, values still raw. */
interface RawChange {
  relation: Relation;
  type: ChangeType;
  new?: RawValue[];
  old?: RawValue[];
  /** `old` holds only the replica identity's columns. */
  oldIsKey: boolean;
}

/** A logical decoding message (pg_logical_emit_message) seen in the stream. */
export interface WalNote {
  prefix: string;
  content: Buffer;
}

export interface Transaction {
  commitTimestamp: string;
  /** Where the stream may be acknowledged once this transaction was delivered. */
  endLsn: bigint;
  changes: RawChange[];
  notes: WalNote[];
}

/** Gathers pgoutput messages into committed transactions; keeps the relations the stream described. */
export class TransactionAssembler {
  readonly relations = new Map<number, Relation>();
  private open: { changes: RawChange[]; notes: WalNote[] } | undefined;

  /** Between a BEGIN and its COMMIT. */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /**
   * Takes one message; returns a transaction at its COMMIT, a note for a non-transactional message, or nothing.
   * Throws when the stream is inconsistent (a row of a relation it never described).
   */
  push(msg: WalMessage): Transaction | WalNote | undefined {
    switch (msg.tag) {
      case 'begin':
        this.open = { changes: [], notes: [] };
        return undefined;
      case 'commit': {
        const tx = this.open ?? { changes: [], notes: [] };
        this.open = undefined;
        return { commitTimestamp: new Date(Number(msg.commitTimeUs / 1000n)).toISOString(), endLsn: msg.endLsn, ...tx };
      }
      case 'relation':
        this.relations.set(msg.relation.oid, msg.relation);
        return undefined;
      case 'insert':
        this.add({ relation: this.relation(msg.relationOid), type: ChangeType.Insert, new: msg.new, oldIsKey: false });
        return undefined;
      case 'update':
        this.add({ relation: this.relation(msg.relationOid), type: ChangeType.Update, new: msg.new, old: msg.old, oldIsKey: msg.oldIsKey });
        return undefined;
      case 'delete':
        this.add({ relation: this.relation(msg.relationOid), type: ChangeType.Delete, old: msg.old, oldIsKey: msg.oldIsKey });
        return undefined;
      case 'message':
        if (!msg.transactional) return { prefix: msg.prefix, content: msg.content };
        this.open?.notes.push({ prefix: msg.prefix, content: msg.content });
        return undefined;
      default:
        return undefined; // truncate (Supabase Realtime sends nothing for it either), type, origin
    }
  }

  private relation(oid: number): Relation {
    const r = this.relations.get(oid);
    if (!r) throw new Error(`pgoutput sent a row of relation ${oid} before describing it`);
    return r;
  }

  private add(change: RawChange): void {
    if (!this.open) throw new Error('pgoutput sent a row change outside a transaction');
    this.open.changes.push(change);
  }
}

/** A rendered row: its JSON text (as row_to_json renders it), parsed, and whether it was cut to small fields. */
interface RenderedRow {
  row: Row;
  json: string;
  trimmed: boolean;
}

/**
 * What a field of a row becomes: its JSON; a value PostgreSQL must render; over the cap; unknown (an unchanged
 * TOASTed value without the old row: the row goes trimmed); or not part of this row at all (old_record of a
 * replica identity key holds only the key's columns).
 */
type Field = string | { sql: string; type: PgType } | typeof TOO_BIG | typeof UNKNOWN | typeof OMIT;
const TOO_BIG = Symbol('over the cap');
const UNKNOWN = Symbol('unchanged toast without an old row');
const OMIT = Symbol('not in this row');
const SMALL_FIELD_BYTES = 64;

/**
 * Renders transactions into changes. Values PostgreSQL must render itself are asked of `pool` (one query per
 * such value: composite types and the like are rare in realtime tables).
 */
export class ChangeRenderer {
  constructor(
    private readonly types: TypeRegistry,
    private readonly catalog: Catalog,
    private readonly pool: pg.Pool,
    private readonly maxLiveRowBytes: number,
  ) {}

  /** The column types of these changes that are not known yet (created after the server started). */
  unknownTypes(tx: Transaction): number[] {
    const out = new Set<number>();
    for (const c of tx.changes) for (const col of c.relation.columns) if (!this.types.get(col.typeOid)) out.add(col.typeOid);
    return [...out];
  }

  /**
   * The changes of a transaction, for published tables in schema public (others are skipped). Synchronous unless
   * a value needs PostgreSQL to render it; then a promise. Call `types.ensure(unknownTypes(tx))` first.
   */
  render(tx: Transaction): Change[] | Promise<Change[]> {
    const pending: Array<Promise<void>> = [];
    const built: Array<() => Change> = [];
    for (const c of tx.changes) {
      if (c.relation.schema !== REALTIME_SCHEMA) continue;
      this.describe(c.relation);
      const fullOld = c.old && !c.oldIsKey ? c.old : undefined;
      const newFields = c.new ? this.fields(c.relation, c.new, fullOld) : undefined;
      const oldFields = c.old
        ? this.fields(c.relation, c.old, undefined, c.oldIsKey)
        : c.type === ChangeType.Update
          ? newFields!.map((f, i) => (c.relation.columns[i]!.key ? f : OMIT)) // the key did not change: from the new row
          : undefined;
      for (const fields of [newFields, oldFields]) if (fields) this.resolve(fields, pending);
      built.push(() => ({
        table: c.relation.name,
        type: c.type,
        commitTimestamp: tx.commitTimestamp,
        ...(newFields ? { record: this.assemble(c.relation, newFields) } : {}),
        ...(oldFields ? { old: this.assemble(c.relation, oldFields) } : {}),
      }));
    }
    if (pending.length === 0) return built.map((b) => b());
    return Promise.all(pending).then(() => built.map((b) => b()));
  }

  /** Keeps the catalog's description of a table as the WAL describes it (columns added or dropped since). */
  private describe(relation: Relation): void {
    const known = this.catalog.get(relation.name);
    const names = relation.columns.map((c) => `${c.name}:${c.typeOid}`).join(',');
    if (known?.signature === names) return;
    const columns = new Map(relation.columns.map((c) => [c.name, this.types.get(c.typeOid)?.name ?? 'unknown']));
    this.catalog.set(relation.name, {
      name: relation.name,
      columns,
      columnsJson: JSON.stringify([...columns].map(([name, type]) => ({ name, type }))),
      signature: names,
    });
  }

  private fields(relation: Relation, values: RawValue[], fallback: RawValue[] | undefined, keyOnly = false): Field[] {
    const out: Field[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const col = relation.columns[i]!;
      let v = values[i]!;
      if (v === UNCHANGED) v = fallback?.[i] ?? UNCHANGED;
      if (keyOnly && !col.key) out[i] = OMIT;
      else if (v === UNCHANGED) out[i] = UNKNOWN;
      else if (v === null) out[i] = 'null';
      else if (v.length > this.maxLiveRowBytes) out[i] = TOO_BIG; // never decoded
      else {
        const text = v.toString('utf8');
        const type = this.types.get(col.typeOid)!;
        const json = renderValue(text, type, this.types);
        out[i] = json === NEEDS_SQL ? { sql: text, type } : json;
      }
    }
    return out;
  }

  private resolve(fields: Field[], pending: Array<Promise<void>>): void {
    fields.forEach((f, i) => {
      if (typeof f !== 'object') return;
      pending.push(
        this.pool.query<{ j: string }>(`select to_json($1::text::${f.type.castName})::text as j`, [f.sql]).then(({ rows }) => {
          fields[i] = rows[0]!.j;
        }),
      );
    });
  }

  private assemble(relation: Relation, fields: Field[]): RenderedRow {
    const parts: Array<[key: string, json: string]> = [];
    let trimmed = false;
    let chars = 2;
    fields.forEach((f, i) => {
      if (f === OMIT) return;
      if (f === TOO_BIG || f === UNKNOWN) {
        trimmed = true;
        return;
      }
      const key = JSON.stringify(relation.columns[i]!.name);
      const json = f as string;
      parts.push([key, json]);
      chars += key.length + json.length + 2;
    });
    const text = (ps: typeof parts) => `{${ps.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    let json = text(parts);
    // A UTF-16 unit is at most 3 bytes of UTF-8: most rows need no byte count.
    if (!trimmed && chars * 3 > this.maxLiveRowBytes && Buffer.byteLength(json) > this.maxLiveRowBytes) trimmed = true;
    if (trimmed) json = text(parts.filter(([, v]) => v.length <= SMALL_FIELD_BYTES && Buffer.byteLength(v) <= SMALL_FIELD_BYTES));
    return { row: JSON.parse(json) as Row, json, trimmed };
  }
}

/** A row inserted into realtime.messages (Broadcast from Database), its values as PostgreSQL's text. */
export interface DbMessage {
  id: string;
  topic: string;
  event: string;
  /** The jsonb payload's text (JSON as PostgreSQL renders jsonb). */
  payload: string;
  private: boolean;
}

/** realtime.messages or one of its daily partitions (the publication names the partitions' rows after them). */
const isMessagesTable = (r: Relation): boolean => r.schema === 'realtime' && (r.name === 'messages' || r.name.startsWith('messages_'));

/**
 * The broadcasts a transaction inserted into realtime.messages, in order; rows of another extension, or without a
 * topic, event or payload, are not broadcasts (as Supabase Realtime skips them).
 */
export function messagesOf(tx: Transaction): DbMessage[] {
  const out: DbMessage[] = [];
  for (const c of tx.changes) {
    if (c.type !== ChangeType.Insert || !c.new || !isMessagesTable(c.relation)) continue;
    const text = (name: string): string | undefined => {
      const i = c.relation.columns.findIndex((col) => col.name === name);
      const v = i < 0 ? undefined : c.new![i];
      return v === undefined || v === null || v === UNCHANGED ? undefined : v.toString('utf8');
    };
    const [id, topic, event, payload, extension] = ['id', 'topic', 'event', 'payload', 'extension'].map(text);
    if (extension !== 'broadcast' || !id || !topic || !event || payload === undefined) continue;
    out.push({ id, topic, event, payload, private: text('private') === 't' });
  }
  return out;
}
