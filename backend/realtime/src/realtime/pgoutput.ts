/**
 * Decoding pgoutput, PostgreSQL's logical replication output (protocol version 1), into messages whose column
 * values stay raw: the bytes of each value's text output, exactly as PostgreSQL wrote them (internal).
 *
 * pg-logical-replication's own decoder turns values into JavaScript with node-postgres's type parsers (jsonb
 * parsed, timestamps as Date, losing microseconds); the change payloads need PostgreSQL's JSON rendering instead
 * (pgJson.ts), so this decoder keeps the text and leaves rendering to that. Message layouts:
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 */

/** A column value: its text output (UTF-8 bytes), SQL NULL, or an unchanged TOASTed value PostgreSQL did not send. */
export type RawValue = Buffer | null | typeof UNCHANGED;
export const UNCHANGED = Symbol('unchanged toast');

export interface RelationColumn {
  name: string;
  typeOid: number;
  /** Part of the replica identity key. */
  key: boolean;
}

export interface Relation {
  oid: number;
  schema: string;
  name: string;
  /** d(efault, the primary key), n(othing), f(ull), i(ndex). */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
}

export type WalMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTimeUs: bigint; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTimeUs: bigint }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'insert'; relationOid: number; new: RawValue[] }
  /** `old` is the whole old row (REPLICA IDENTITY FULL, 'O') or the old key's columns ('K'; others null). */
  | { tag: 'update'; relationOid: number; old: RawValue[] | undefined; oldIsKey: boolean; new: RawValue[] }
  | { tag: 'delete'; relationOid: number; old: RawValue[]; oldIsKey: boolean }
  | { tag: 'truncate'; relationOids: number[] }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { tag: 'other'; kind: string };

/** Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01. */
const PG_EPOCH_US = 946_684_800_000_000n;

class Reader {
  private p = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number {
    this.need(1);
    return this.b[this.p++]!;
  }
  i16(): number {
    this.need(2);
    const v = this.b.readInt16BE(this.p);
    this.p += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.b.readInt32BE(this.p);
    this.p += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.b.readBigUInt64BE(this.p);
    this.p += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.b.readBigInt64BE(this.p);
    this.p += 8;
    return v;
  }
  cstring(): string {
    const end = this.b.indexOf(0, this.p);
    if (end < 0) throw new Error('pgoutput: unterminated string');
    const s = this.b.toString('utf8', this.p, end);
    this.p = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  private need(n: number): void {
    if (this.p + n > this.b.length) throw new Error('pgoutput: message ends early');
  }
}

/** Unix microseconds of a pgoutput timestamp. */
const unixUs = (pgUs: bigint) => pgUs + PG_EPOCH_US;

function tuple(r: Reader): RawValue[] {
  const n = r.i16();
  const values: RawValue[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    if (kind === 0x74 /* t */ || kind === 0x62 /* b */) values[i] = r.bytes(r.i32());
    else if (kind === 0x6e /* n */) values[i] = null;
    else if (kind === 0x75 /* u */) values[i] = UNCHANGED;
    else throw new Error(`pgoutput: unknown tuple value kind ${kind}`);
  }
  return values;
}

/**
 * Decodes one pgoutput message (the payload of an XLogData). Throws an Error naming what is malformed.
 *
 * @example
 * const msg = decodePgoutput(xlogData.subarray(25));
 * if (msg.tag === 'insert') console.log(msg.new.map((v) => (v instanceof Buffer ? v.toString() : v)));
 */
export function decodePgoutput(buf: Buffer): WalMessage {
  const r = new Reader(buf);
  const tag = String.fromCharCode(r.u8());
  switch (tag) {
    case 'B':
      return { tag: 'begin', finalLsn: r.u64(), commitTimeUs: unixUs(r.i64()), xid: r.i32() };
    case 'C': {
      r.u8(); // flags, unused
      return { tag: 'commit', commitLsn: r.u64(), endLsn: r.u64(), commitTimeUs: unixUs(r.i64()) };
    }
    case 'R': {
      const oid = r.i32() >>> 0;
      const schema = r.cstring();
      const name = r.cstring();
      const replicaIdentity = String.fromCharCode(r.u8()) as Relation['replicaIdentity'];
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8();
        const colName = r.cstring();
        const typeOid = r.i32() >>> 0;
        r.i32(); // atttypmod
        columns.push({ name: colName, typeOid, key: (flags & 1) === 1 });
      }
      return { tag: 'relation', relation: { oid, schema, name, replicaIdentity, columns } };
    }
    case 'I': {
      const relationOid = r.i32() >>> 0;
      if (r.u8() !== 0x4e /* N */) throw new Error('pgoutput: insert without a new tuple');
      return { tag: 'insert', relationOid, new: tuple(r) };
    }
    case 'U': {
      const relationOid = r.i32() >>> 0;
      let kind = r.u8();
      let old: RawValue[] | undefined;
      const oldIsKey = kind === 0x4b; /* K */
      if (kind === 0x4b || kind === 0x4f /* O */) {
        old = tuple(r);
        kind = r.u8();
      }
      if (kind !== 0x4e /* N */) throw new Error('pgoutput: update without a new tuple');
      return { tag: 'update', relationOid, old, oldIsKey, new: tuple(r) };
    }
    case 'D': {
      const relationOid = r.i32() >>> 0;
      const kind = r.u8();
      if (kind !== 0x4b && kind !== 0x4f) throw new Error('pgoutput: delete without an old tuple');
      return { tag: 'delete', relationOid, oldIsKey: kind === 0x4b, old: tuple(r) };
    }
    case 'T': {
      const n = r.i32();
      r.u8(); // options
      const relationOids: number[] = [];
      for (let i = 0; i < n; i++) relationOids.push(r.i32() >>> 0);
      return { tag: 'truncate', relationOids };
    }
    case 'M': {
      const transactional = (r.u8() & 1) === 1;
      const lsn = r.u64();
      const prefix = r.cstring();
      return { tag: 'message', transactional, lsn, prefix, content: r.bytes(r.i32()) };
    }
    default:
      // Y (type), O (origin): nothing this server needs.
      return { tag: 'other', kind: tag };
  }
}

/** An LSN as PostgreSQL prints it (`16/B374D848`). */
export const formatLsn = (lsn: bigint): string => `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
