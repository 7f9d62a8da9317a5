/**
 * The other server processes on this database (internal): what reaches one process's subscribers reaches every
 * process's, through the change feed each of them reads (docs/backend/REALTIME.md, "Several server processes").
 *
 * - A broadcast a client sends is delivered here at once and relayed to the others as a non-transactional logical
 *   decoding message (`pg_logical_emit_message`: WAL only, no table row), while any other node is known to be
 *   there. Broadcast from Database (realtime.send) needs nothing here: every process reads realtime.messages.
 * - Presence: each process writes the metas its channels track to mobvibe.presence, announcing each write with a
 *   transactional message in the same transaction, so the others apply it in commit order. When its stream
 *   (re)starts a process re-announces all its own entries and loads everyone else's, so a lost stream converges.
 * - A node is alive while it holds a replication slot (named after its node id). Every health round each process
 *   deletes the rows of nodes without one, announcing the leaves: a process killed with -9 loses its slot when
 *   its connection drops, a frozen one after wal_sender_timeout (changeFeed.ts).
 *
 * Notes come from the database, so they are checked as any input is: a malformed note is logged and skipped.
 */
import type pg from 'pg';
import { briefError, inCheckedOutTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import { SLOT_PREFIX } from './changeFeed.js';
import { PayloadEncoding } from './constants.js';
import type { BroadcastContent } from './messages.js';
import type { Meta, Presence, PresenceShare, SharedEntry } from './presence.js';
import type { WalNote } from './walChanges.js';

/** Prefixes of this server's logical decoding messages. */
export const NotePrefix = { Broadcast: 'mobvibe_broadcast', Presence: 'mobvibe_presence' } as const;

export interface ClusterOptions {
  nodeId: string;
  pool: pg.Pool;
  logger: Logger;
  /** How often nodes without a slot are swept and other nodes counted (the feed's health round). */
  sweepEveryMs: number;
  /** Delivers a broadcast another node relayed to this process's members of the room. */
  deliverBroadcast(topic: string, isPrivate: boolean, content: BroadcastContent): void;
}

/** One presence change in a note: a meta set (`meta`), or a holder's meta gone (`meta` absent). */
interface PresenceOp {
  room: string;
  holder: string;
  key: string;
  meta?: Meta;
}

/** A presence note: a node's changes, its whole state (`reset`), or the entries of gone nodes a sweeper deleted. */
interface PresenceNote {
  node: string;
  ops?: PresenceOp[];
  reset?: boolean;
  gone?: Array<{ node: string; room: string; holder: string }>;
}

interface BroadcastNote {
  node: string;
  topic: string;
  private: boolean;
  event: string;
  /** The payload: JSON text, or base64 of raw bytes (`binary`). */
  body: string;
  binary?: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Cluster implements PresenceShare {
  /** Another node holds a slot, or spoke: relay broadcasts. Counted every sweep. */
  private peers = false;
  private relayQueue: string[] = [];
  private relaying = false;
  private pending: PresenceOp[] = [];
  /** Writes to mobvibe.presence, one at a time in order. */
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private presence: Presence | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** A write or load failed: the whole state is re-announced and reloaded at the next sweep round. */
  private dirty = false;

  constructor(private readonly opts: ClusterOptions) {}

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Whether another node is known to share this database. */
  get hasPeers(): boolean {
    return this.peers;
  }

  /** Starts sweeping; `presence` is this process's (entries to announce, remote ones to apply). */
  start(presence: Presence): void {
    this.presence = presence;
    this.timer = setInterval(() => (this.dirty ? this.resync() : void this.sweep()), this.opts.sweepEveryMs);
    this.timer.unref();
  }

  /** Stops, deleting this node's rows (announced, so the others drop its presence now rather than at a sweep). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // A database that does not answer gets two seconds: the others sweep this node's rows once its slot is gone.
    const stop = new Promise((r) => setTimeout(r, 2_000).unref());
    await Promise.race([this.chain, stop]);
    const own = this.presence?.localEntries() ?? [];
    if (own.length === 0) return;
    const note: PresenceNote = { node: this.nodeId, reset: true, ops: [] };
    await Promise.race([
      stop,
      this.opts.pool
        .query(
          `with gone as (delete from mobvibe.presence where node = $1 returning 1)
           select pg_logical_emit_message(true, $2, $3)`,
          [this.nodeId, NotePrefix.Presence, JSON.stringify(note)],
        )
        .catch(() => undefined),
    ]);
  }

  // ---- broadcast ----

  /** A broadcast delivered here goes to the other nodes too (batched per tick), while there are any. */
  relayBroadcast(topic: string, isPrivate: boolean, content: BroadcastContent): void {
    if (!this.peers || this.closed) return;
    const binary = content.encoding !== PayloadEncoding.Json;
    const note: BroadcastNote = { node: this.nodeId, topic, private: isPrivate, event: content.event, body: binary ? content.body.toString('base64') : content.body.toString('utf8'), ...(binary ? { binary } : {}) };
    this.relayQueue.push(JSON.stringify(note));
    if (this.relayQueue.length === 1 && !this.relaying) setImmediate(() => this.flushRelay());
  }

  /**
   * One batch in flight at a time: messages reach the WAL in the order their statements run, so two batches on two
   * pooled connections at once could overtake each other (the cross-node test saw 10 arrive before 9).
   */
  private flushRelay(): void {
    if (this.relaying) return;
    const batch = this.relayQueue;
    this.relayQueue = [];
    if (batch.length === 0) return;
    this.relaying = true;
    this.opts.pool
      .query(`select pg_logical_emit_message(false, $1, m) from unnest($2::text[]) with ordinality as t(m, i) order by i`, [NotePrefix.Broadcast, batch])
      .catch((err: Error) => {
        // Broadcasts are ephemeral: lost ones are not retried (as Supabase's are not), but say so.
        this.opts.logger.warn({ err: briefError(err), broadcasts: batch.length }, 'could not relay broadcasts to the other server processes');
      })
      .finally(() => {
        this.relaying = false;
        this.flushRelay();
      });
  }

  // ---- presence: this node's changes ----

  tracked(entry: SharedEntry): void {
    this.queue({ room: entry.room, holder: entry.holder, key: entry.key, meta: entry.meta });
  }

  untracked(room: string, holder: string): void {
    this.queue({ room, holder, key: '' });
  }

  private queue(op: PresenceOp): void {
    if (this.closed) return;
    this.pending.push(op);
    if (this.scheduled) return;
    this.scheduled = true;
    this.chain = this.chain.then(() => {
      this.scheduled = false;
      return this.writePending();
    });
  }

  /**
   * Writes the pending changes in one statement: the table gets each holder's last state, the note every change
   * in order. A failed write is repaired by re-announcing the whole state (resync).
   */
  private async writePending(): Promise<void> {
    const ops = this.pending;
    this.pending = [];
    if (ops.length === 0) return;
    const last = new Map<string, PresenceOp>();
    for (const op of ops) last.set(`${op.room}\u0000${op.holder}`, op);
    const rows = [...last.values()].map((op) => ({ room: op.room, holder: Number(op.holder), key: op.key, meta: op.meta ?? null }));
    const note: PresenceNote = { node: this.nodeId, ops };
    try {
      await this.opts.pool.query(
        `with ops as (select * from jsonb_to_recordset($2::jsonb) as x(room text, holder bigint, key text, meta jsonb)),
              removed as (delete from mobvibe.presence p using ops
                           where ops.meta is null and p.node = $1 and p.room = ops.room and p.holder = ops.holder returning 1),
              written as (insert into mobvibe.presence (node, room, holder, key, meta)
                          select $1, room, holder, key, meta from ops where meta is not null
                          on conflict (node, room, holder) do update set key = excluded.key, meta = excluded.meta returning 1)
         select pg_logical_emit_message(true, $3, $4)`,
        [this.nodeId, JSON.stringify(rows), NotePrefix.Presence, JSON.stringify(note)],
      );
    } catch (err) {
      this.opts.logger.warn({ err: briefError(err as Error) }, 'could not share presence with the other server processes; re-announcing it at the next sweep round');
      this.dirty = true;
    }
  }

  /**
   * The stream (re)started: anything may have been missed. Re-announces this node's whole state (replacing its
   * rows), loads every other node's, and sweeps the gone.
   */
  resync(): void {
    if (this.closed) return;
    this.dirty = false;
    this.chain = this.chain.then(() => this.resyncNow()).catch((err: unknown) => {
      this.opts.logger.warn({ err: briefError(err as Error) }, 'could not load presence from the other server processes; retrying at the next sweep round');
      this.dirty = true;
    });
  }

  private async resyncNow(): Promise<void> {
    const presence = this.presence;
    if (!presence || this.closed) return;
    this.pending = []; // the whole state goes now
    const own = presence.localEntries();
    const note: PresenceNote = { node: this.nodeId, reset: true, ops: own };
    const rows = own.map((e) => ({ room: e.room, holder: Number(e.holder), key: e.key, meta: e.meta }));
    const others = await inCheckedOutTransaction(await this.opts.pool.connect(), async (client) => {
      await client.query('begin');
      await client.query('delete from mobvibe.presence where node = $1', [this.nodeId]);
      await client.query(
        `insert into mobvibe.presence (node, room, holder, key, meta)
         select $1, room, holder, key, meta from jsonb_to_recordset($2::jsonb) as x(room text, holder bigint, key text, meta jsonb)`,
        [this.nodeId, JSON.stringify(rows)],
      );
      await client.query('select pg_logical_emit_message(true, $1, $2)', [NotePrefix.Presence, JSON.stringify(note)]);
      const found = await client.query<{ node: string; room: string; holder: string; key: string; meta: Meta }>(
        'select node, room, holder::text, key, meta from mobvibe.presence where node <> $1',
        [this.nodeId],
      );
      await client.query('commit');
      return found.rows;
    });
    const seen = new Set<string>();
    for (const r of others) {
      const holder = `${r.node}/${r.holder}`;
      seen.add(`${r.room}\u0000${holder}`);
      presence.putRemote({ room: r.room, holder, key: r.key, meta: r.meta });
    }
    for (const e of presence.remoteEntries()) if (!seen.has(`${e.room}\u0000${e.holder}`)) presence.removeRemote(e.room, e.holder);
    await this.sweep();
  }

  /**
   * Deletes the rows of nodes that hold no replication slot, announcing them (and applying them here: a node does
   * not read its own notes), and counts the other nodes.
   */
  async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const { rows } = await this.opts.pool.query<{ gone: Array<{ node: string; room: string; holder: string }> | null; peers: number }>(
        `with gone as (delete from mobvibe.presence p
                        where not exists (select 1 from pg_replication_slots s where starts_with(s.slot_name, $1 || p.node || '_'))
                        returning p.node, p.room, p.holder::text as holder),
              listed as (select coalesce(jsonb_agg(gone), '[]'::jsonb) as gone from gone),
              noted as (select pg_logical_emit_message(true, $3, jsonb_build_object('node', $2::text, 'gone', listed.gone)::text)
                          from listed where jsonb_array_length(listed.gone) > 0)
         select (select gone from listed) as gone, (select count(*) from noted) as noted,
                (select count(*)::int from pg_replication_slots where starts_with(slot_name, $1) and not starts_with(slot_name, $1 || $2 || '_')) as peers`,
        [SLOT_PREFIX, this.nodeId, NotePrefix.Presence],
      );
      const row = rows[0]!;
      this.peers = row.peers > 0;
      for (const g of row.gone ?? []) this.presence?.removeRemote(g.room, `${g.node}/${g.holder}`);
    } catch (err) {
      this.opts.logger.warn({ err: briefError(err as Error) }, 'could not sweep the presence of gone server processes; retrying at the next round');
    }
  }

  // ---- notes from the stream ----

  /** A logical decoding message from the change feed: another node's broadcast or presence. */
  onNote(note: WalNote): void {
    if (note.prefix !== NotePrefix.Broadcast && note.prefix !== NotePrefix.Presence) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(note.content.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed) || typeof parsed.node !== 'string') return this.malformed(note);
    if (parsed.node === this.nodeId) return;
    this.peers = true;
    if (note.prefix === NotePrefix.Broadcast) return this.onBroadcast(parsed, note);
    this.onPresence(parsed as unknown as PresenceNote, note);
  }

  private onBroadcast(n: Record<string, unknown>, note: WalNote): void {
    if (typeof n.topic !== 'string' || typeof n.event !== 'string' || typeof n.body !== 'string' || typeof n.private !== 'boolean') return this.malformed(note);
    const binary = n.binary === true;
    const content: BroadcastContent = {
      event: n.event,
      encoding: binary ? PayloadEncoding.Binary : PayloadEncoding.Json,
      body: Buffer.from(n.body, binary ? 'base64' : 'utf8'),
    };
    this.opts.deliverBroadcast(n.topic, n.private, content);
  }

  private onPresence(n: PresenceNote, note: WalNote): void {
    const presence = this.presence;
    if (!presence) return;
    const opsOk = (ops: unknown): ops is PresenceOp[] =>
      Array.isArray(ops) && ops.every((op) => isObject(op) && typeof op.room === 'string' && typeof op.holder === 'string' && typeof op.key === 'string' && (op.meta === undefined || (isObject(op.meta) && typeof op.meta.phx_ref === 'string')));
    if (n.gone !== undefined) {
      if (!Array.isArray(n.gone) || !n.gone.every((g) => isObject(g) && typeof g.node === 'string' && typeof g.room === 'string' && typeof g.holder === 'string')) return this.malformed(note);
      for (const g of n.gone) if (g.node !== this.nodeId) presence.removeRemote(g.room, `${g.node}/${g.holder}`);
      return;
    }
    if (!opsOk(n.ops)) return this.malformed(note);
    const holderOf = (op: PresenceOp) => `${n.node}/${op.holder}`;
    if (n.reset) {
      const keep = new Set(n.ops.filter((op) => op.meta).map((op) => `${op.room}\u0000${holderOf(op)}`));
      for (const e of presence.remoteEntries(n.node)) if (!keep.has(`${e.room}\u0000${e.holder}`)) presence.removeRemote(e.room, e.holder);
    }
    for (const op of n.ops) {
      if (op.meta) presence.putRemote({ room: op.room, holder: holderOf(op), key: op.key, meta: op.meta });
      else presence.removeRemote(op.room, holderOf(op));
    }
  }

  private malformed(note: WalNote): void {
    this.opts.logger.warn({ prefix: note.prefix, bytes: note.content.length }, 'skipped a malformed logical decoding message');
  }
}
