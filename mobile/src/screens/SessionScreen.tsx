import { useSessionEvents } from '@mobvibe/realtime-client/react';
import type { SupabaseClient } from '@supabase/supabase-js';
import { useCallback, useEffect, useState } from 'react';
import { ActivityIndicator, Pressable, StyleSheet, Text, View } from 'react-native';
import { EventList } from '../components/EventList';
import { StatusBadge } from '../components/StatusBadge';
import { useSession } from '../contexts/SessionContext';
import { useEventNotices } from '../hooks/useEventNotices';
import { getSession, type SessionSummary } from '../services/sessions';
import { colors } from '../theme';

type Loaded = { status: 'loading' } | { status: 'found'; session: SessionSummary } | { status: 'missing' } | { status: 'failed'; message: string };

/**
 * One coding session: its history, then its live events. A session that does not exist or belongs to
 * someone else is never subscribed to; the screen says it is not available.
 */
export function SessionScreen({ supabase, sessionId, onBack }: { supabase: SupabaseClient; sessionId: string; onBack: () => void }) {
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  const { isConnected } = useSession();
  const load = useCallback(() => {
    setLoaded({ status: 'loading' });
    getSession(supabase, sessionId).then(
      (session) => setLoaded(session ? { status: 'found', session } : { status: 'missing' }),
      (err: Error) => setLoaded({ status: 'failed', message: err.message }),
    );
  }, [supabase, sessionId]);
  useEffect(load, [load]);

  const title = loaded.status === 'found' ? loaded.session.title || 'Untitled session' : 'Session';
  return (
    <View style={styles.screen}>
      <View style={styles.header}>
        <Pressable onPress={onBack} accessibilityRole="button" accessibilityLabel="Back to sessions" style={styles.back} testID="back">
          <Text style={styles.backText}>‹ Sessions</Text>
        </Pressable>
        <Text style={styles.title} role="heading" numberOfLines={1} testID="session-title">
          {title}
        </Text>
        {isConnected && loaded.status === 'found' ? (
          <Text style={styles.live} accessibilityLabel="Live: receiving events" testID="live-badge">
            ● Live
          </Text>
        ) : null}
        {loaded.status === 'found' ? <StatusBadge status={loaded.session.status} /> : null}
      </View>
      {loaded.status === 'loading' && <ActivityIndicator style={styles.center} accessibilityLabel="Loading the session" />}
      {loaded.status === 'missing' && (
        <Message testID="session-unavailable" text="This session is not available. It does not exist, or it belongs to another account." />
      )}
      {loaded.status === 'failed' && <Message testID="session-failed" text={`Could not load the session: ${loaded.message}`} onRetry={load} />}
      {loaded.status === 'found' && <LiveEvents sessionId={sessionId} />}
    </View>
  );
}

/** The subscription: mounted only for a session the user may read. */
function LiveEvents({ sessionId }: { sessionId: string }) {
  const { events, state, error, loadOlder } = useSessionEvents(sessionId);
  useEventNotices(events, state);
  const waiting =
    state.status === 'live'
      ? 'No events yet. They appear here as the agent works.'
      : state.status === 'connecting' || state.status === 'catching_up'
        ? 'Loading the session history…'
        : 'No events loaded yet.';
  return (
    <>
      {/* The indicator already says an error's reason; other states get the last failure as detail. */}
      {error && state.status !== 'live' && state.status !== 'error' ? (
        <Text style={styles.streamError} testID="stream-error" numberOfLines={2}>
          {error.message}
        </Text>
      ) : null}
      <EventList events={events} loadOlder={loadOlder} emptyText={waiting} />
    </>
  );
}

function Message({ text, onRetry, testID }: { text: string; onRetry?: () => void; testID: string }) {
  return (
    <View style={styles.center} testID={testID}>
      <Text style={styles.message} role="alert">
        {text}
      </Text>
      {onRetry ? (
        <Pressable onPress={onRetry} accessibilityRole="button" style={styles.retry}>
          <Text style={styles.retryText}>Try again</Text>
        </Pressable>
      ) : null}
    </View>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1 },
  header: {
    flexDirection: 'row',
    alignItems: 'center',
    gap: 10,
    paddingHorizontal: 12,
    paddingVertical: 10,
    backgroundColor: colors.surface,
    borderBottomWidth: 1,
    borderBottomColor: colors.border,
  },
  back: { paddingVertical: 4, paddingRight: 4 },
  backText: { color: colors.accent, fontSize: 15, fontWeight: '600' },
  title: { flex: 1, fontSize: 17, fontWeight: '700', color: colors.text },
  live: { color: colors.success, fontSize: 12, fontWeight: '700' },
  center: { flex: 1, alignItems: 'center', justifyContent: 'center', padding: 24, gap: 12 },
  message: { color: colors.text, fontSize: 15, textAlign: 'center', maxWidth: 420 },
  retry: { paddingVertical: 6, paddingHorizontal: 12 },
  retryText: { color: colors.accent, fontWeight: '600' },
  streamError: { color: colors.muted, fontSize: 12, paddingHorizontal: 12, paddingTop: 6 },
});
