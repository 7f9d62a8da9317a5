/**
 * Contracts between the bench orchestrator (bench/run.ts), its worker processes (bench/workers/*) and the
 * systems under test: MobVibe Realtime (this project) and the Socket.IO peer (bench/peers/socketio).
 */
import type { Summary } from './stats.js';

export type SystemName = 'mobvibe' | 'socketio';

/** One live subscription's connection, whatever the system. */
export interface Subscriber {
  connect(): Promise<void>;
  /** Subscribes to a session's events; resolves once delivery is live. */
  joinSession(sessionId: string, accessToken: string): Promise<void>;
  /** Called for every event received. */
  onEvent: (e: ReceivedEvent) => void;
  /** Called when the connection closes (for any reason). */
  onClose: (code: number, reason: string) => void;
  /** Drops the TCP connection abruptly (a network failure), for the reconnect storm. */
  terminate(): void;
  close(): void;
}

export interface ReceivedEvent {
  sessionId: string;
  seq: number;
  /** Epoch ms (float) the row committed, per the database. */
  commitMs: number;
  /** Epoch ms (float) the emit call started, carried in the event. */
  emitMs: number;
  receivedAt: number;
}

/** Per-scenario result row. */
export interface ScenarioResult {
  system: SystemName;
  scenario: string;
  description: string;
  eventsPerSecond: number;
  emitted: number;
  delivered: number;
  expectedDeliveries: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  commitToReceipt: Summary;
  emitToReceipt: Summary;
  serverRssMb: number;
  serverCpuPercent: number;
  /** Server and PostgreSQL CPU per delivered event (µs): the scenario's CPU-seconds over the events subscribers got. */
  cpuUsPerDelivery: number | undefined;
  extra?: Record<string, number | string>;
}
