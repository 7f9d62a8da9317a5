import { createContext, createElement, useContext, type ReactNode } from 'react';
import type { RealtimeService } from '../RealtimeService.js';

const ServiceContext = createContext<RealtimeService | null>(null);

/**
 * Provides one shared RealtimeService to the tree. Create the service once (module scope or useMemo);
 * components never own reconnect logic.
 *
 * @example
 * const service = new RealtimeService({ supabase });
 * <RealtimeProvider service={service}><App /></RealtimeProvider>
 */
export function RealtimeProvider(props: { service: RealtimeService; children?: ReactNode }) {
  return createElement(ServiceContext.Provider, { value: props.service }, props.children);
}

export function useRealtimeService(): RealtimeService {
  const service = useContext(ServiceContext);
  if (!service) throw new Error('useRealtimeService: no RealtimeService. Wrap the tree in <RealtimeProvider service={...}>.');
  return service;
}
