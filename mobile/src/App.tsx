import { RealtimeProvider } from '@mobvibe/realtime-client/react';
import { StatusBar } from 'expo-status-bar';
import { useEffect, useMemo } from 'react';
import { SafeAreaView, StyleSheet, View } from 'react-native';
import { ConnectionIndicator } from './components/ConnectionIndicator';
import { NoticeHost } from './components/NoticeHost';
import { NoticeProvider } from './contexts/NoticeContext';
import { SessionProvider } from './contexts/SessionContext';
import { useRoute } from './navigation';
import { NotConfiguredScreen } from './screens/NotConfiguredScreen';
import { SessionListScreen } from './screens/SessionListScreen';
import { SessionScreen } from './screens/SessionScreen';
import { loadConfig, type AppConfig } from './services/config';
import { createRealtime } from './services/realtime';
import { createSupabase } from './services/supabase';
import { colors } from './theme';

/** The app: configuration first, then one supabase client and one RealtimeService for its whole life. */
export function App() {
  const config = useMemo(loadConfig, []);
  return (
    <SafeAreaView style={styles.root}>
      <StatusBar style="dark" />
      <View style={styles.column}>{config.ok ? <SignedIn config={config.config} /> : <NotConfiguredScreen missing={config.missing} />}</View>
    </SafeAreaView>
  );
}

function SignedIn({ config }: { config: AppConfig }) {
  const supabase = useMemo(() => createSupabase(config), [config]);
  const service = useMemo(() => createRealtime(supabase, config), [supabase, config]);
  useEffect(() => () => void service.close(), [service]);
  const [route, navigate] = useRoute(config.initialSessionId);
  return (
    <RealtimeProvider service={service}>
      <SessionProvider>
        <NoticeProvider>
          <ConnectionIndicator />
          {route.name === 'session' ? (
            <SessionScreen key={route.sessionId} supabase={supabase} sessionId={route.sessionId} onBack={() => navigate({ name: 'sessions' })} />
          ) : (
            <SessionListScreen supabase={supabase} onOpen={(sessionId) => navigate({ name: 'session', sessionId })} />
          )}
          <NoticeHost />
        </NoticeProvider>
      </SessionProvider>
    </RealtimeProvider>
  );
}

const styles = StyleSheet.create({
  root: { flex: 1, backgroundColor: colors.background },
  column: { flex: 1, width: '100%', maxWidth: 760, alignSelf: 'center' },
});
