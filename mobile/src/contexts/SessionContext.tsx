import { useConnectionState, useRealtimeService } from '@mobvibe/realtime-client/react';
import type { ConnectionState } from '@mobvibe/realtime-client';
import { createContext, useContext, useMemo, type ReactNode } from 'react';

/** What the screens know about the connection: the plan's `isConnected` and `connectionState`, made real. */
export interface SessionContextValue {
  /** True only when every open session is subscribed and caught up. */
  isConnected: boolean;
  /** The realtime client's state, with the attempt, the next retry time or the error reason. */
  connectionState: ConnectionState;
  /** Skips the backoff wait and reconnects now. */
  reconnectNow: () => void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/**
 * Publishes the connection state of the RealtimeService above it. It re-renders on the service's state
 * events (useSyncExternalStore), never by polling.
 *
 * @example
 * <RealtimeProvider service={service}><SessionProvider><App /></SessionProvider></RealtimeProvider>
 */
export function SessionProvider({ children }: { children?: ReactNode }) {
  const service = useRealtimeService();
  const connectionState = useConnectionState();
  const value = useMemo<SessionContextValue>(
    () => ({ isConnected: connectionState.status === 'live', connectionState, reconnectNow: () => service.reconnectNow() }),
    [connectionState, service],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession: no SessionProvider. Wrap the screens in <SessionProvider> (inside <RealtimeProvider>).');
  return value;
}
