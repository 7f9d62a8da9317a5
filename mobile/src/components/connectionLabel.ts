import type { ConnectionState } from '@mobvibe/realtime-client';

/**
 * The words the indicator shows for a state, or undefined when it should hide (live, or nothing open).
 * `secondsLeft` is the countdown to the state's next retry.
 */
export function connectionLabel(state: ConnectionState, secondsLeft: number | undefined): string | undefined {
  switch (state.status) {
    case 'live':
    case 'closed':
      return undefined;
    case 'connecting':
      return 'Connecting…';
    case 'catching_up':
      return state.behind ? `Catching up… (${state.behind} behind)` : 'Catching up…';
    case 'reconnecting':
      return secondsLeft ? `Reconnecting in ${secondsLeft} s (attempt ${state.attempt})` : `Reconnecting… (attempt ${state.attempt})`;
    case 'offline':
      return 'Offline';
    case 'error':
      return `Error: ${state.reason}${secondsLeft ? ` (retrying in ${secondsLeft} s)` : ''}`;
  }
}
