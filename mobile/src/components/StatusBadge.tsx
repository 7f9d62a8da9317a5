import { StyleSheet, Text } from 'react-native';
import { statusLook } from '../theme';

/** A session's status as a small coloured badge ("running", "completed", ...). */
export function StatusBadge({ status }: { status: string | null }) {
  const look = statusLook(status);
  const text = status || 'unknown';
  return (
    <Text style={[styles.badge, { color: look.color, backgroundColor: look.tint, borderColor: look.color }]} accessibilityLabel={`Status: ${text}`}>
      {text}
    </Text>
  );
}

const styles = StyleSheet.create({
  badge: {
    fontSize: 12,
    fontWeight: '700',
    borderWidth: 1,
    borderRadius: 10,
    paddingHorizontal: 8,
    paddingVertical: 2,
    overflow: 'hidden',
  },
});
