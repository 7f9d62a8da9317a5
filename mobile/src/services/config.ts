import Constants from 'expo-constants';
import { Platform } from 'react-native';
import { parseExtraConfig, parseHashConfig, sessionHash, storedForm, type ConfigResult } from './configParse';

export type { AppConfig, ConfigResult } from './configParse';
export { sessionFromHash, sessionHash } from './configParse';

/** Storage key of the web configuration; sessionStorage, so it ends with the tab. */
export const WEB_CONFIG_KEY = 'mobvibe.config';

/**
 * Reads this platform's configuration: app.json "extra" (expo-constants) on devices; on the web the URL hash,
 * which it then moves into sessionStorage, and the page's origin as the default project URL.
 */
export function loadConfig(): ConfigResult {
  return Platform.OS === 'web' ? loadWebConfig(globalThis.window) : parseExtraConfig(Constants.expoConfig?.extra);
}

function loadWebConfig(win: Window | undefined): ConfigResult {
  if (!win) return parseExtraConfig(undefined);
  const storage = safeSessionStorage(win);
  const result = parseHashConfig(win.location.hash, win.location.origin, storage?.getItem(WEB_CONFIG_KEY));
  if (result.ok) storage?.setItem(WEB_CONFIG_KEY, storedForm(result.config));
  // The token must not linger in the address bar, the history or a shared screenshot; the session opened
  // stays in the hash (#session=...), where the app's navigation keeps it.
  if (win.location.hash) {
    const session = result.ok ? result.config.initialSessionId : undefined;
    win.history.replaceState(null, '', win.location.pathname + win.location.search + (session ? sessionHash(session) : ''));
  }
  return result;
}

function safeSessionStorage(win: Window): Storage | undefined {
  try {
    return win.sessionStorage;
  } catch {
    return undefined; // storage disabled (privacy mode): the hash still works for this load
  }
}
