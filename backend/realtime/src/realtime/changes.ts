/** A committed row change as Realtime delivers it, and its `postgres_changes` payload (internal). */
import type { RealtimeTable } from './catalog.js';
import { ChangeType, PAYLOAD_TOO_LARGE } from './constants.js';

export type Row = Record<string, unknown>;

export interface Change {
  table: string;
  type: ChangeType;
  /** ISO time the writing transaction committed (the WAL commit message's time). */
  commitTimestamp: string;
  /**
   * The new row (INSERT, UPDATE), parsed and as the JSON text PostgreSQL rendered it; when `trimmed` (it was over
   * the live-size cap, limits.ts maxLiveRowBytes) only its fields of at most 64 bytes.
   */
  record?: { row: Row; json: string; trimmed: boolean };
  // An UPDATE without `record`: the row was too big to ride in the notification and was deleted before it could be
  // read back. Nothing is delivered for it (its DELETE follows), but it may still revoke access (authorize.ts).
  /** The old row (UPDATE, DELETE); only its small fields when `trimmed`. */
  old?: { row: Row; json: string; trimmed: boolean };
}

/** The row filters look at: the new row, or the old one for DELETE. */
export const routingRow = (c: Change): Row => (c.type === ChangeType.Delete ? c.old?.row : c.record?.row) ?? {};

/**
 * The `data` of a postgres_changes message, as JSON text: `{schema, table, commit_timestamp, type, columns,
 * record, old_record, errors}`. Built once per change; the row texts are spliced in as PostgreSQL rendered them
 * (jsonb as objects, bigint as numbers), so nothing is parsed and re-serialised per subscriber.
 */
export function changeDataJson(change: Change, table: RealtimeTable): string {
  const errors = change.old?.trimmed || change.record?.trimmed ? JSON.stringify([PAYLOAD_TOO_LARGE]) : 'null';
  const record = change.record ? `,"record":${change.record.json}` : '';
  const old = change.old ? `,"old_record":${change.old.json}` : '';
  return (
    `{"schema":"public","table":${JSON.stringify(change.table)},"commit_timestamp":${JSON.stringify(change.commitTimestamp)},` +
    `"type":"${change.type}","columns":${table.columnsJson}${record}${old},"errors":${errors}}`
  );
}
