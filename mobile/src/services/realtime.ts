import NetInfo from '@react-native-community/netinfo';
import {
  appStateFromBrowser,
  appStateFromReactNative,
  networkFromBrowser,
  networkFromNetInfo,
  RealtimeService,
  type AppStateSource,
  type NetworkStatusSource,
} from '@mobvibe/realtime-client';
import type { SupabaseClient } from '@supabase/supabase-js';
import { AppState, Platform } from 'react-native';
import type { AppConfig } from './config';

/**
 * The one RealtimeService of the app. Devices report reachability through NetInfo and foreground/background
 * through AppState; the web uses the window's online/offline and page-visibility events.
 */
export function createRealtime(supabase: SupabaseClient, config: AppConfig): RealtimeService {
  const { network, appState } = platformSources();
  return new RealtimeService({
    supabase,
    accessToken: async () => config.accessToken,
    network,
    appState,
    onError: (error, sessionId) => console.warn(`[realtime] session ${sessionId}: ${error.code}: ${error.message}`),
  });
}

function platformSources(): { network: NetworkStatusSource; appState: AppStateSource } {
  if (Platform.OS === 'web') return { network: networkFromBrowser(window), appState: appStateFromBrowser(window) };
  return { network: networkFromNetInfo(NetInfo), appState: appStateFromReactNative(AppState) };
}
