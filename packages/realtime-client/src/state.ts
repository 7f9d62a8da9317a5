/** The states a person sees. */
export const ConnectionStatus = {
  Connecting: 'connecting',
  Live: 'live',
  CatchingUp: 'catching_up',
  Reconnecting: 'reconnecting',
  Offline: 'offline',
  Closed: 'closed',
  Error: 'error',
} as const;
export type ConnectionStatus = (typeof ConnectionStatus)[keyof typeof ConnectionStatus];

/**
 * The connection state with what a UI needs to say it honestly:
 * how far behind while catching up, which attempt and when the next retry is, why it failed.
 */
export type ConnectionState =
  | { status: 'connecting' }
  | { status: 'live' }
  | { status: 'catching_up'; behind: number | undefined }
  | { status: 'reconnecting'; attempt: number; nextRetryAt: number }
  | { status: 'offline' }
  | { status: 'closed' }
  | { status: 'error'; reason: string; code: string; attempt: number; nextRetryAt: number | undefined };

export interface StateChange {
  oldState: ConnectionState;
  newState: ConnectionState;
  reason: string;
}

export type StateListener = (change: StateChange) => void;

/** Which state wins when several sessions disagree: the most alarming one. */
const PRIORITY: Record<ConnectionStatus, number> = {
  offline: 6,
  error: 5,
  reconnecting: 4,
  connecting: 3,
  catching_up: 2,
  live: 1,
  closed: 0,
};

/** @internal The service's state from its sessions' states. */
export function aggregate(states: ConnectionState[]): ConnectionState {
  if (states.length === 0) return { status: 'closed' };
  let worst = states[0]!;
  for (const s of states) {
    if (PRIORITY[s.status] > PRIORITY[worst.status]) worst = s;
    else if (s.status === 'catching_up' && worst.status === 'catching_up') {
      worst = { status: 'catching_up', behind: sumBehind(worst.behind, s.behind) };
    } else if (s.status === 'reconnecting' && worst.status === 'reconnecting' && s.nextRetryAt < worst.nextRetryAt) {
      worst = s;
    }
  }
  return worst;
}

const sumBehind = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a + b);

export function sameState(a: ConnectionState, b: ConnectionState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
