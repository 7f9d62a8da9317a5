export { RealtimeProvider, useRealtimeService } from './context.js';
export { useConnectionState, useSessionEvents } from './hooks.js';
export type { SessionEvents } from './hooks.js';
