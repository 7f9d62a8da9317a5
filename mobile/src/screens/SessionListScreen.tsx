import type { SupabaseClient } from '@supabase/supabase-js';
import { useCallback, useEffect, useState } from 'react';
import { ActivityIndicator, FlatList, Pressable, RefreshControl, StyleSheet, Text, View } from 'react-native';
import { StatusBadge } from '../components/StatusBadge';
import { listSessions, type SessionSummary } from '../services/sessions';
import { colors } from '../theme';

type Loaded = { status: 'loading' } | { status: 'ready'; sessions: SessionSummary[] } | { status: 'failed'; message: string };

/** The signed-in user's coding sessions, newest first, each with its status. */
export function SessionListScreen({ supabase, onOpen }: { supabase: SupabaseClient; onOpen: (sessionId: string) => void }) {
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  const [refreshing, setRefreshing] = useState(false);

  const load = useCallback(async () => {
    try {
      setLoaded({ status: 'ready', sessions: await listSessions(supabase) });
    } catch (err) {
      setLoaded({ status: 'failed', message: (err as Error).message });
    }
  }, [supabase]);

  useEffect(() => {
    void load();
  }, [load]);

  const refresh = useCallback(async () => {
    setRefreshing(true);
    await load();
    setRefreshing(false);
  }, [load]);

  return (
    <View style={styles.screen}>
      <View style={styles.header}>
        <Text style={styles.title} role="heading">
          Sessions
        </Text>
        <Pressable onPress={refresh} accessibilityRole="button" accessibilityLabel="Refresh the sessions" style={styles.refresh} testID="refresh">
          <Text style={styles.refreshText}>Refresh</Text>
        </Pressable>
      </View>
      {loaded.status === 'loading' && <ActivityIndicator style={styles.center} accessibilityLabel="Loading sessions" />}
      {loaded.status === 'failed' && (
        <View style={styles.center} testID="sessions-failed">
          <Text style={styles.message} role="alert">
            Could not load your sessions: {loaded.message}
          </Text>
        </View>
      )}
      {loaded.status === 'ready' && (
        <FlatList
          data={loaded.sessions}
          keyExtractor={(s) => s.id}
          renderItem={({ item }) => <SessionRow session={item} onOpen={onOpen} />}
          refreshControl={<RefreshControl refreshing={refreshing} onRefresh={refresh} />}
          ListEmptyComponent={
            <Text style={styles.message} testID="sessions-empty">
              No sessions yet. Start one from the agent (locally: npm run demo).
            </Text>
          }
          contentContainerStyle={styles.list}
          testID="session-list"
        />
      )}
    </View>
  );
}

function SessionRow({ session, onOpen }: { session: SessionSummary; onOpen: (id: string) => void }) {
  const title = session.title || 'Untitled session';
  const when = new Date(session.createdAt).toLocaleString();
  return (
    <Pressable
      onPress={() => onOpen(session.id)}
      accessibilityRole="button"
      accessibilityLabel={`${title}, ${session.status ?? 'unknown status'}, started ${when}`}
      style={({ pressed }) => [styles.row, pressed && styles.pressed]}
      testID={`session-${session.id}`}
    >
      <View style={styles.rowText}>
        <Text style={styles.rowTitle} numberOfLines={1}>
          {title}
        </Text>
        <Text style={styles.rowMeta}>{when}</Text>
      </View>
      <StatusBadge status={session.status} />
    </Pressable>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1 },
  header: {
    flexDirection: 'row',
    alignItems: 'center',
    paddingHorizontal: 16,
    paddingVertical: 12,
    backgroundColor: colors.surface,
    borderBottomWidth: 1,
    borderBottomColor: colors.border,
  },
  title: { flex: 1, fontSize: 20, fontWeight: '700', color: colors.text },
  refresh: { paddingVertical: 4, paddingHorizontal: 8 },
  refreshText: { color: colors.accent, fontWeight: '600' },
  center: { flex: 1, alignItems: 'center', justifyContent: 'center', padding: 24 },
  message: { color: colors.muted, fontSize: 15, textAlign: 'center', padding: 24 },
  list: { paddingVertical: 8 },
  row: {
    flexDirection: 'row',
    alignItems: 'center',
    gap: 12,
    backgroundColor: colors.surface,
    marginHorizontal: 12,
    marginVertical: 4,
    padding: 14,
    borderRadius: 8,
    borderWidth: StyleSheet.hairlineWidth,
    borderColor: colors.border,
  },
  pressed: { opacity: 0.7 },
  rowText: { flex: 1, gap: 2 },
  rowTitle: { fontSize: 16, fontWeight: '600', color: colors.text },
  rowMeta: { fontSize: 12, color: colors.muted },
});
