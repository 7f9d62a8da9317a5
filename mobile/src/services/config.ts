import Constants from 'expo-constants';
import { Platform } from 'react-native';

/**
 * What the app needs to reach its project: the Supabase (or MobVibe Realtime) URL, the anon key, and the
 * signed-in user's access token. Sign-in itself is not part of the app yet, so the token comes from
 * configuration: app.json "extra" on devices, the URL hash on the web.
 */
export interface AppConfig {
  supabaseUrl: string;
  anonKey: string;
  accessToken: string;
  /** A session to open first (the demo link names one). */
  initialSessionId: string | undefined;
}

export type ConfigResult = { ok: true; config: AppConfig } | { ok: false; missing: string[] };

/** Storage key of the web configuration; sessionStorage, so it ends with the tab. */
export const WEB_CONFIG_KEY = 'mobvibe.config';

type Fields = Partial<Record<keyof AppConfig, string>>;

/** Reads the configuration of this platform. On the web it also moves the hash into sessionStorage. */
export function loadConfig(): ConfigResult {
  return Platform.OS === 'web' ? loadWebConfig(globalThis.window) : validate(fromExtra(Constants.expoConfig?.extra));
}

/**
 * Parses `#access_token=...&anon_key=...&supabase_url=...&session=...` (every part optional), falling back to
 * what an earlier visit stored, and the page's origin for the URL.
 *
 * @example
 * parseHashConfig('#access_token=ey..&anon_key=ey..', 'http://127.0.0.1:54321', undefined)
 */
export function parseHashConfig(hash: string, origin: string, stored: string | null | undefined): ConfigResult {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const previous = parseStored(stored);
  const fromHash: Fields = {
    supabaseUrl: params.get('supabase_url') ?? undefined,
    anonKey: params.get('anon_key') ?? undefined,
    accessToken: params.get('access_token') ?? undefined,
    initialSessionId: params.get('session') ?? undefined,
  };
  const merged: Fields = { ...previous, ...definedOnly(fromHash) };
  merged.supabaseUrl ??= origin;
  return validate(merged);
}

function loadWebConfig(win: Window | undefined): ConfigResult {
  if (!win) return validate({});
  const storage = safeSessionStorage(win);
  const result = parseHashConfig(win.location.hash, win.location.origin, storage?.getItem(WEB_CONFIG_KEY));
  if (result.ok) {
    const { initialSessionId: _opened, ...keep } = result.config;
    storage?.setItem(WEB_CONFIG_KEY, JSON.stringify(keep));
  }
  // The token must not linger in the address bar, the history or a shared screenshot; the session opened
  // stays in the hash (#session=...), where the app's navigation keeps it.
  if (win.location.hash) {
    const session = result.ok ? result.config.initialSessionId : undefined;
    win.history.replaceState(null, '', win.location.pathname + win.location.search + (session ? sessionHash(session) : ''));
  }
  return result;
}

/** The hash of a session's page on the web. */
export function sessionHash(sessionId: string): string {
  return `#session=${encodeURIComponent(sessionId)}`;
}

/** The session named by a hash, if any. */
export function sessionFromHash(hash: string): string | undefined {
  return new URLSearchParams(hash.replace(/^#/, '')).get('session') ?? undefined;
}

function fromExtra(extra: Record<string, unknown> | undefined): Fields {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return definedOnly({
    supabaseUrl: str(extra?.supabaseUrl),
    anonKey: str(extra?.supabaseAnonKey),
    accessToken: str(extra?.accessToken),
    initialSessionId: str(extra?.sessionId),
  });
}

function validate(fields: Fields): ConfigResult {
  const missing: string[] = [];
  if (!fields.supabaseUrl) missing.push('supabaseUrl');
  if (!fields.anonKey) missing.push('anonKey');
  if (!fields.accessToken) missing.push('accessToken');
  if (missing.length) return { ok: false, missing };
  return {
    ok: true,
    config: {
      supabaseUrl: fields.supabaseUrl!.replace(/\/+$/, ''),
      anonKey: fields.anonKey!,
      accessToken: fields.accessToken!,
      initialSessionId: fields.initialSessionId,
    },
  };
}

function parseStored(stored: string | null | undefined): Fields {
  if (!stored) return {};
  try {
    const value: unknown = JSON.parse(stored);
    if (!value || typeof value !== 'object') return {};
    const v = value as Record<string, unknown>;
    const str = (x: unknown) => (typeof x === 'string' && x !== '' ? x : undefined);
    return definedOnly({ supabaseUrl: str(v.supabaseUrl), anonKey: str(v.anonKey), accessToken: str(v.accessToken) });
  } catch {
    // A corrupt entry is as good as none: the hash or the "not configured" screen takes over.
    return {};
  }
}

function definedOnly(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Fields;
}

function safeSessionStorage(win: Window): Storage | undefined {
  try {
    return win.sessionStorage;
  } catch {
    return undefined; // storage disabled (privacy mode): the hash still works for this load
  }
}
