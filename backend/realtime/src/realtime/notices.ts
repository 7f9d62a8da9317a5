/**
 * The trigger notifications of migration 20261127000002_realtime.sql, and turning a batch of them into changes
 * with one query (internal).
 */
import pg from 'pg';
import { isUuid } from '@mobvibe/events';
import { REALTIME_SCHEMA, type Catalog } from './catalog.js';
import type { Change, Row } from './changes.js';
import { ChangeType } from './constants.js';
import { isObject } from './serializer.js';

/** The NOTIFY channel the triggers use. */
export const NOTIFY_CHANNEL = 'mobvibe_realtime';

interface NoticeBase {
  table: string;
  /** The writing transaction (xid8 as text). */
  xid: string;
  /** When this process heard of it: the commit time stand-in without track_commit_timestamp. */
  receivedAt: number;
}

/** A row as it rode in a notification: parsed, and its JSON text as PostgreSQL wrote it (forwarded as is). */
export interface InlineRow {
  row: Row;
  json: string;
}

export type Notice =
  | (NoticeBase & { op: 'I'; inline: InlineRow[] })
  | (NoticeBase & { op: 'I'; ranges: Array<[sessionId: string, lo: number, hi: number]> })
  | (NoticeBase & { op: 'I'; keys: string[] })
  | (NoticeBase & { op: 'U' | 'D'; rows: Array<{ id: string; old: Row; trimmed: boolean; current: Row | null }> });

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * Parses one notification; throws an Error saying what is wrong (someone else may NOTIFY on the channel).
 * A notification is a JSON header, optionally followed by one row of JSON per line (migration 4).
 */
export function parseNotice(payload: string, catalog: Catalog, receivedAt: number): Notice {
  const newline = payload.indexOf('\n');
  const n: unknown = JSON.parse(newline < 0 ? payload : payload.slice(0, newline));
  if (!isObject(n) || n.v !== 1) throw new Error('not a version 1 realtime notification');
  const { t: table, o: op, x: xid } = n;
  if (typeof table !== 'string' || !catalog.has(table)) throw new Error(`unknown table ${String(table)}`);
  if (typeof xid !== 'string' || !/^\d+$/.test(xid)) throw new Error('missing transaction id');
  const base = { table, xid, receivedAt };
  if (op === 'I' && typeof n.n === 'number') {
    const lines = newline < 0 ? [] : payload.slice(newline + 1).split('\n');
    if (lines.length !== n.n) throw new Error(`announces ${n.n} rows but carries ${lines.length}`);
    return { ...base, op, inline: lines.map(inlineRow) };
  }
  if (op === 'I' && Array.isArray(n.r)) {
    const ok = n.r.every((r) => Array.isArray(r) && r.length === 3 && isUuid(r[0]) && isSeq(r[1]) && isSeq(r[2]));
    if (!ok) throw new Error('malformed seq ranges');
    return { ...base, op, ranges: n.r as Array<[string, number, number]> };
  }
  if (op === 'I' && Array.isArray(n.k)) {
    if (!n.k.every(isUuid)) throw new Error('malformed keys');
    return { ...base, op, keys: n.k as string[] };
  }
  if ((op === 'U' || op === 'D') && Array.isArray(n.r)) {
    const ok = n.r.every((r) => Array.isArray(r) && r.length === 4 && isUuid(r[0]) && isObject(r[1]) && typeof r[2] === 'boolean' && (r[3] === null || isObject(r[3])));
    if (!ok) throw new Error('malformed changed rows');
    const rows = n.r as Array<[string, Row, boolean, Row | null]>;
    return { ...base, op, rows: rows.map(([id, old, trimmed, current]) => ({ id, old, trimmed, current })) };
  }
  throw new Error(`unknown operation ${String(op)}`);
}

function inlineRow(json: string): InlineRow {
  const row: unknown = JSON.parse(json);
  if (!isObject(row) || !isUuid(row.id)) throw new Error('malformed row');
  return { row, json };
}

interface Request {
  o: number;
  t: string;
  i?: number;
  s?: string;
  lo?: number;
  hi?: number;
  k?: string;
  x?: string;
}

interface ResultRow {
  o: number;
  k: string | null;
  j: string | null;
  /** The row was over the live-size cap: `j` holds only its fields of at most 64 bytes. */
  tr: boolean | null;
}

const ident = pg.escapeIdentifier;
const literal = pg.escapeLiteral;

/**
 * Fetches the rows a batch of notifications names, in one query on the pool, and returns the changes in
 * notification (= commit) order, each notification's rows in seq order.
 */
export class ChangeReader {
  private readonly sql: string;
  private readonly statementName: string;

  /** `maxLiveRowBytes`: rows whose JSON is bigger travel as keys only (their fields of at most 64 bytes). */
  constructor(private readonly pool: pg.Pool, catalog: Catalog, private readonly trackCommit: boolean, private readonly maxLiveRowBytes: number) {
    this.sql = readerSql(catalog, trackCommit, maxLiveRowBytes);
    this.statementName = `mobvibe_realtime_read_${trackCommit ? 'ts' : 'nots'}_${maxLiveRowBytes}`;
  }

  async read(notices: Notice[]): Promise<Change[]> {
    // One commit-timestamp lookup per transaction (a statement's rows may fill several notifications).
    const firstOfXid = new Map<string, number>();
    notices.forEach((n, o) => firstOfXid.has(n.xid) || firstOfXid.set(n.xid, o));
    const requests = notices.flatMap((n, o) => requestsFor(n, o, this.trackCommit && firstOfXid.get(n.xid) === o));
    const results = new Map<number, ResultRow[]>();
    if (requests.length > 0) {
      // A named statement: parsed and planned once per connection.
      const { rows } = await this.pool.query<ResultRow>({ name: this.statementName, text: this.sql, values: [JSON.stringify(requests)] });
      for (const row of rows) {
        const list = results.get(row.o);
        if (list) list.push(row);
        else results.set(row.o, [row]);
      }
    }
    const commitTimes = new Map<string, string>();
    for (const [xid, o] of firstOfXid) {
      const ts = results.get(o)?.find((r) => r.k === null)?.j;
      if (ts) commitTimes.set(xid, ts);
    }
    return notices.flatMap((n, o) => changesFor(n, results.get(o) ?? [], commitTimes.get(n.xid), this.maxLiveRowBytes));
  }
}

function requestsFor(n: Notice, o: number, trackCommit: boolean): Request[] {
  const out: Request[] = trackCommit ? [{ o, t: 'ts', x: n.xid }] : [];
  if ('ranges' in n) for (const [s, lo, hi] of n.ranges) out.push({ o, t: 'range', s, lo, hi });
  else if ('keys' in n) n.keys.forEach((k, i) => out.push({ o, t: `k:${n.table}`, k, i }));
  else if (n.op === 'U') n.rows.forEach((r, i) => r.current === null && out.push({ o, t: `k:${n.table}`, k: r.id, i }));
  return out;
}

/**
 * The text of a row as a change carries it: whole when its JSON is at most `cap` bytes, else (trimmed) only its
 * fields of at most 64 bytes, as Supabase does with large payloads; the client reads the whole row by REST.
 */
const liveRow = (cap: number) =>
  `case when octet_length(w.t) <= ${cap} then w.t
        else (select coalesce(json_object_agg(f.key, f.value) filter (where octet_length(f.value::text) <= 64), '{}')::text
                from json_each(w.t::json) f) end, octet_length(w.t) > ${cap}`;

function readerSql(catalog: Catalog, trackCommit: boolean, cap: number): string {
  const ts = trackCommit
    ? `to_char(pg_xact_commit_timestamp(r.x::xid8::xid) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : 'null::text';
  const parts = [`select r.o, -1::int8 as q, null::text as k, ${ts} as j, null::bool as tr from req r where r.t = 'ts'`];
  if (catalog.has('session_events')) {
    parts.push(`select r.o, e.seq, e.id::text, ${liveRow(cap)} from req r
      join ${ident(REALTIME_SCHEMA)}.session_events e on e.session_id = r.s and e.seq between r.lo and r.hi
      cross join lateral (select row_to_json(e)::text as t) w where r.t = 'range'`);
  }
  for (const name of catalog.keys()) {
    parts.push(`select r.o, r.i::int8, e.id::text, ${liveRow(Math.trunc(cap))} from req r
      join ${ident(REALTIME_SCHEMA)}.${ident(name)} e on e.id = r.k
      cross join lateral (select row_to_json(e)::text as t) w where r.t = ${literal(`k:${name}`)}`);
  }
  return `with req as materialized (
      select * from json_to_recordset($1::json) as r(o int, t text, i int, s uuid, lo int8, hi int8, k uuid, x text))
    ${parts.join('\n    union all\n    ')}
    order by 1, 2`;
}

/** A row's fields of at most 64 bytes of JSON (what a change carries of a row over the live-size cap). */
export function smallFields(row: Row): Row {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => Buffer.byteLength(JSON.stringify(v) ?? 'null') <= 64));
}

/** A row that rode in a notification, held to the same live-size cap as rows read back. */
function capped(record: InlineRow, cap: number): { row: Row; json: string; trimmed: boolean } {
  if (record.json.length <= cap / 3 || Buffer.byteLength(record.json) <= cap) return { ...record, trimmed: false };
  const row = smallFields(record.row);
  return { row, json: JSON.stringify(row), trimmed: true };
}

function changesFor(n: Notice, rows: ResultRow[], committedAt: string | undefined, cap: number): Change[] {
  const commitTimestamp = committedAt ?? new Date(n.receivedAt).toISOString();
  const fetched = rows.filter((r): r is ResultRow & { k: string; j: string } => r.k !== null && r.j !== null);
  const base = { table: n.table, commitTimestamp };
  const record = (r: { j: string; tr: boolean | null }) => ({ row: JSON.parse(r.j) as Row, json: r.j, trimmed: r.tr === true });
  if ('inline' in n) return n.inline.map((row) => ({ ...base, type: ChangeType.Insert, record: capped(row, cap) }));
  if (n.op === 'I') return fetched.map((r) => ({ ...base, type: ChangeType.Insert, record: record(r) }));
  const oldOf = (r: { old: Row; trimmed: boolean }) => ({ row: r.old, json: JSON.stringify(r.old), trimmed: r.trimmed });
  if (n.op === 'D') return n.rows.map((r) => ({ ...base, type: ChangeType.Delete, old: oldOf(r) }));
  const current = new Map(fetched.map((r) => [r.k, r]));
  return n.rows.flatMap((r) => {
    const read = current.get(r.id);
    const rec = r.current ? capped({ row: r.current, json: JSON.stringify(r.current) }, cap) : read && record(read);
    // Too big to ride along and deleted since: its DELETE notification follows. There is no new row to show, but
    // the change still counts for access (the UPDATE may have moved a session to another owner): see Change.record.
    return [{ ...base, type: ChangeType.Update, record: rec || undefined, old: oldOf(r) }];
  });
}
