/**
 * What the app needs to reach its project: the Supabase (or MobVibe Realtime) URL, the anon key, and the
 * signed-in user's access token. Sign-in itself is not part of the app yet, so the token comes from
 * configuration: app.json "extra" on devices, the URL hash on the web. This module only parses; config.ts
 * reads the platform's sources.
 */
export interface AppConfig {
  supabaseUrl: string;
  anonKey: string;
  accessToken: string;
  /** A session to open first (the demo link names one). */
  initialSessionId: string | undefined;
}

export type ConfigResult = { ok: true; config: AppConfig } | { ok: false; missing: string[] };

type Fields = Partial<Record<keyof AppConfig, string>>;

/**
 * Parses `#access_token=...&anon_key=...&supabase_url=...&session=...` (every part optional), falling back to
 * what an earlier visit stored, and the page's origin for the URL.
 *
 * @example
 * parseHashConfig('#access_token=ey..&anon_key=ey..', 'http://127.0.0.1:54321', undefined)
 */
export function parseHashConfig(hash: string, origin: string, stored: string | null | undefined): ConfigResult {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const fromHash: Fields = {
    supabaseUrl: params.get('supabase_url') ?? undefined,
    anonKey: params.get('anon_key') ?? undefined,
    accessToken: params.get('access_token') ?? undefined,
    initialSessionId: params.get('session') ?? undefined,
  };
  const merged: Fields = { ...parseStored(stored), ...definedOnly(fromHash) };
  merged.supabaseUrl ??= origin;
  return validate(merged);
}

/** app.json "extra": `supabaseUrl`, `supabaseAnonKey`, `accessToken`, optionally `sessionId`. */
export function parseExtraConfig(extra: Record<string, unknown> | undefined): ConfigResult {
  return validate(
    definedOnly({
      supabaseUrl: nonEmpty(extra?.supabaseUrl),
      anonKey: nonEmpty(extra?.supabaseAnonKey),
      accessToken: nonEmpty(extra?.accessToken),
      initialSessionId: nonEmpty(extra?.sessionId),
    }),
  );
}

/** What the web keeps in sessionStorage: everything but the session opened. */
export function storedForm(config: AppConfig): string {
  const { initialSessionId: _opened, ...keep } = config;
  return JSON.stringify(keep);
}

/** The hash of a session's page on the web. */
export function sessionHash(sessionId: string): string {
  return `#session=${encodeURIComponent(sessionId)}`;
}

/** The session named by a hash, if any. */
export function sessionFromHash(hash: string): string | undefined {
  return new URLSearchParams(hash.replace(/^#/, '')).get('session') ?? undefined;
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
    return definedOnly({ supabaseUrl: nonEmpty(v.supabaseUrl), anonKey: nonEmpty(v.anonKey), accessToken: nonEmpty(v.accessToken) });
  } catch {
    // A corrupt entry is as good as none: the hash or the "not signed in" screen takes over.
    return {};
  }
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function definedOnly(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Fields;
}
