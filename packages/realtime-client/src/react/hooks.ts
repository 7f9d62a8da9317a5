import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { ClientSessionEvent } from '@mobvibe/events';
import type { RealtimeClientError } from '../errors.js';
import type { ConnectionState } from '../state.js';
import { useRealtimeService } from './context.js';

/** The overall connection state, re-rendered on every change event (no polling). */
export function useConnectionState(): ConnectionState {
  const service = useRealtimeService();
  return useSyncExternalStore(
    (notify) => service.onStateChange(notify),
    () => service.getConnectionState(),
    () => service.getConnectionState(),
  );
}

export interface SessionEvents {
  /** Every event received so far, in seq order, older pages prepended by loadOlder. */
  events: ClientSessionEvent[];
  state: ConnectionState;
  /** The last failure the service reported for this session (it keeps retrying). */
  error: RealtimeClientError | undefined;
  /** Loads the page before the oldest event held; resolves to how many were added (0 at the start). */
  loadOlder: () => Promise<number>;
}

/**
 * A session's events and state. The subscription lives in the shared service; this hook only renders it.
 *
 * @example
 * const { events, state, loadOlder } = useSessionEvents(sessionId);
 */
export function useSessionEvents(sessionId: string, opts: { afterSeq?: number } = {}): SessionEvents {
  const service = useRealtimeService();
  const [events, setEvents] = useState<ClientSessionEvent[]>([]);
  const [error, setError] = useState<RealtimeClientError | undefined>(undefined);
  const eventsRef = useRef(events);
  eventsRef.current = events;
  const state = useSyncExternalStore(
    (notify) => service.onSessionStateChange(sessionId, notify),
    () => service.getSessionState(sessionId),
    () => service.getSessionState(sessionId),
  );

  useEffect(() => {
    setEvents([]);
    setError(undefined);
    const offError = service.onSessionStateChange(sessionId, ({ newState }) => {
      if (newState.status === 'live') setError(undefined);
    });
    const unsubscribe = service.subscribe(
      sessionId,
      (event) => setEvents((prev) => [...prev, event]),
      opts.afterSeq === undefined ? {} : { afterSeq: opts.afterSeq },
    );
    const offErrors = service.onError(sessionId, setError);
    return () => {
      unsubscribe();
      offError();
      offErrors();
    };
  }, [service, sessionId, opts.afterSeq]);

  const loadOlder = useCallback(async () => {
    const oldest = eventsRef.current[0]?.seq;
    if (oldest === undefined || oldest <= 1) return 0;
    const older = await service.loadOlder(sessionId, oldest);
    setEvents((prev) => [...older.filter((e) => e.seq < (prev[0]?.seq ?? Infinity)), ...prev]);
    return older.length;
  }, [service, sessionId]);

  return { events, state, error, loadOlder };
}
