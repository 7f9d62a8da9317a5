import type { EventEmitter } from '../events/EventEmitter.js';
import type { EventDataMap, EventType, SessionEvent, SessionEventRecord } from '../events/types.js';

/**
 * The part of the coding agent that reports progress. The real agent (model client, sandbox) is out of
 * scope here: `run` plays a scripted list of events, which is what a demo or a test needs, and shows the one
 * way the agent records anything: `emitEvent`, delegating to the injected {@link EventEmitter}.
 *
 * @example
 * const runner = new AgentRunner(new EventEmitter());
 * await runner.run(sessionId, DEMO_STEPS);
 */
export class AgentRunner {
  constructor(private readonly events: EventEmitter) {}

  /**
   * Emits `steps` in order, each after the previous one is stored, and resolves to the stored records.
   * Stops at the first failure and rethrows it; the events stored before it stay stored.
   */
  async run(sessionId: string, steps: readonly SessionEvent[]): Promise<SessionEventRecord[]> {
    const records: SessionEventRecord[] = [];
    for (const step of steps) records.push(await this.emitEvent(sessionId, step.type, step.data));
    return records;
  }

  /** Typed by event type: `emitEvent(id, 'file_change', { path, action: 'write' })`. */
  private async emitEvent<T extends EventType>(sessionId: string, type: T, data: EventDataMap[T]): Promise<SessionEventRecord> {
    // TypeScript cannot correlate a generic `type` with its `data`; the emitter validates the pair at runtime.
    return this.events.emit(sessionId, { type, data } as SessionEvent);
  }
}
