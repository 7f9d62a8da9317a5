import { Pressable, StyleSheet, Text, View } from 'react-native';
import { useSession } from '../contexts/SessionContext';
import { useSecondsUntil } from '../hooks/useSecondsUntil';
import { colors } from '../theme';
import { connectionLabel } from './connectionLabel';

const LOOK = {
  connecting: { color: colors.warning, tint: colors.warningBg },
  catching_up: { color: colors.accent, tint: '#eff4ff' },
  reconnecting: { color: colors.warning, tint: colors.warningBg },
  offline: { color: '#475467', tint: '#f2f4f7' },
  error: { color: colors.danger, tint: colors.dangerBg },
} as const;

/**
 * The connection state, always in view: hidden while live, otherwise a banner that says what is happening
 * ("Reconnecting in 4 s (attempt 2)"). It re-renders on the realtime client's state events; the only timer
 * is the countdown to a known retry time.
 */
export function ConnectionIndicator() {
  const { connectionState: state, reconnectNow } = useSession();
  const deadline = state.status === 'reconnecting' || state.status === 'error' ? state.nextRetryAt : undefined;
  const seconds = useSecondsUntil(deadline);
  const label = connectionLabel(state, seconds);
  if (!label || state.status === 'live' || state.status === 'closed') return null;
  const look = LOOK[state.status];
  const canRetry = state.status === 'reconnecting' || state.status === 'error';
  return (
    <View style={[styles.bar, { backgroundColor: look.tint, borderColor: look.color }]} role="status" testID="connection-indicator">
      <View style={[styles.dot, { backgroundColor: look.color }]} />
      <Text style={[styles.label, { color: look.color }]} testID="connection-label" numberOfLines={2}>
        {label}
      </Text>
      {canRetry && (
        <Pressable onPress={reconnectNow} accessibilityRole="button" accessibilityLabel="Retry now" style={styles.retry}>
          <Text style={[styles.retryText, { color: look.color }]}>Retry now</Text>
        </Pressable>
      )}
    </View>
  );
}

const styles = StyleSheet.create({
  bar: {
    flexDirection: 'row',
    alignItems: 'center',
    gap: 8,
    paddingHorizontal: 12,
    paddingVertical: 8,
    borderBottomWidth: 1,
  },
  dot: { width: 8, height: 8, borderRadius: 4 },
  label: { fontSize: 14, fontWeight: '600', flex: 1 },
  retry: { paddingHorizontal: 8, paddingVertical: 4 },
  retryText: { fontWeight: '700', fontSize: 13, textDecorationLine: 'underline' },
});
