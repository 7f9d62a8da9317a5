import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { AppConfig } from './config';

/**
 * The app's supabase-js client. The user's access token comes from configuration (no sign-in flow yet), so
 * supabase-js neither stores nor refreshes a session; `accessToken` signs every REST request and the
 * Realtime socket.
 */
export function createSupabase(config: AppConfig): SupabaseClient {
  return createClient(config.supabaseUrl, config.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    accessToken: async () => config.accessToken,
  });
}
