/** Public API of the Realtime endpoint; everything else in this folder is internal. */
export { startRealtime } from './realtime.js';
export type { Realtime, RealtimeOptions } from './realtime.js';
export { RealtimeError, RealtimeErrorCode } from './errors.js';
export { FeedState } from './changeFeed.js';
