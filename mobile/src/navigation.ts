import { useCallback, useEffect, useRef, useState } from 'react';
import { BackHandler, Platform } from 'react-native';
import { sessionFromHash, sessionHash } from './services/config';

/** The app's two screens. */
export type Route = { name: 'sessions' } | { name: 'session'; sessionId: string };

/**
 * A two-screen navigation without a router: state on devices (Android's back button returns to the list),
 * the URL hash on the web (`#session=<id>`), so the browser's back button and reloads work too.
 */
export function useRoute(initialSessionId: string | undefined): [Route, (next: Route) => void] {
  const [route, setRoute] = useState<Route>(() => toRoute(initialSessionId));
  const current = useRef(route);
  current.current = route;

  useEffect(() => {
    if (Platform.OS === 'web') {
      const onPop = () => setRoute(toRoute(sessionFromHash(window.location.hash)));
      window.addEventListener('popstate', onPop);
      return () => window.removeEventListener('popstate', onPop);
    }
    const sub = BackHandler.addEventListener('hardwareBackPress', () => {
      if (current.current.name !== 'session') return false; // let the system leave the app
      setRoute({ name: 'sessions' });
      return true;
    });
    return () => sub.remove();
  }, []);

  const navigate = useCallback((next: Route) => {
    if (Platform.OS === 'web') {
      const hash = next.name === 'session' ? sessionHash(next.sessionId) : '';
      if (hash !== window.location.hash) window.history.pushState(null, '', window.location.pathname + window.location.search + hash);
    }
    setRoute(next);
  }, []);

  return [route, navigate];
}

function toRoute(sessionId: string | undefined): Route {
  return sessionId ? { name: 'session', sessionId } : { name: 'sessions' };
}
