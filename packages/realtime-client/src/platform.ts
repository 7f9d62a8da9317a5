/**
 * Platform pieces the service listens to, injected so React Native, browsers and tests each wire their own.
 */
export interface NetworkStatusSource {
  /** Current reachability, when known. */
  isOnline(): boolean;
  /** Calls `listener` on every change; returns an unsubscribe function. */
  subscribe(listener: (online: boolean) => void): () => void;
}

export type AppStatus = 'active' | 'background' | 'inactive';

export interface AppStateSource {
  current(): AppStatus;
  subscribe(listener: (state: AppStatus) => void): () => void;
}

/** Minimal shape of `@react-native-community/netinfo`'s default export. */
export interface NetInfoLike {
  addEventListener(listener: (state: { isConnected: boolean | null; isInternetReachable?: boolean | null }) => void): () => void;
}

/**
 * Adapts NetInfo. Starts optimistic (online) until NetInfo's first report.
 *
 * @example
 * import NetInfo from '@react-native-community/netinfo';
 * new RealtimeService({ supabase, network: networkFromNetInfo(NetInfo) });
 */
export function networkFromNetInfo(netInfo: NetInfoLike): NetworkStatusSource {
  let online = true;
  const listeners = new Set<(online: boolean) => void>();
  netInfo.addEventListener((s) => {
    const next = s.isConnected !== false && s.isInternetReachable !== false;
    if (next === online) return;
    online = next;
    for (const l of listeners) l(online);
  });
  return {
    isOnline: () => online,
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
  };
}

/** Minimal shape of React Native's `AppState`. */
export interface RNAppStateLike {
  currentState: string | null;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

const toAppStatus = (s: string | null): AppStatus => (s === 'background' ? 'background' : s === 'inactive' ? 'inactive' : 'active');

/** Adapts React Native's AppState. */
export function appStateFromReactNative(appState: RNAppStateLike): AppStateSource {
  return {
    current: () => toAppStatus(appState.currentState),
    subscribe: (l) => {
      const sub = appState.addEventListener('change', (s) => l(toAppStatus(s)));
      return () => sub.remove();
    },
  };
}

/** Minimal shape of a browser `window` for online/offline and visibility. */
export interface BrowserLike {
  navigator?: { onLine?: boolean };
  document?: { visibilityState?: string; addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void };
  addEventListener(t: string, l: () => void): void;
  removeEventListener(t: string, l: () => void): void;
}

/** online/offline events of a browser window. */
export function networkFromBrowser(win: BrowserLike): NetworkStatusSource {
  return {
    isOnline: () => win.navigator?.onLine !== false,
    subscribe: (l) => {
      const on = () => l(true);
      const off = () => l(false);
      win.addEventListener('online', on);
      win.addEventListener('offline', off);
      return () => {
        win.removeEventListener('online', on);
        win.removeEventListener('offline', off);
      };
    },
  };
}

/** Page visibility of a browser window, as app state. */
export function appStateFromBrowser(win: BrowserLike): AppStateSource {
  const doc = win.document;
  const current = (): AppStatus => (doc?.visibilityState === 'hidden' ? 'background' : 'active');
  return {
    current,
    subscribe: (l) => {
      if (!doc) return () => undefined;
      const onChange = () => l(current());
      doc.addEventListener('visibilitychange', onChange);
      return () => doc.removeEventListener('visibilitychange', onChange);
    },
  };
}
