import type { EventDataMap } from '@mobvibe/events';
import { StyleSheet, Text, View } from 'react-native';
import { colors, monospace } from '../../theme';

/** file_change: the path, and whether it was written or deleted. */
export function FileChangeEvent({ data }: { data: EventDataMap['file_change'] }) {
  const deleted = data.action === 'delete';
  return (
    <View style={styles.row}>
      <Text style={[styles.action, deleted ? styles.deleted : styles.written]}>{deleted ? 'deleted' : 'written'}</Text>
      <Text style={[styles.path, deleted && styles.strike]} selectable>
        {data.path}
      </Text>
    </View>
  );
}

const styles = StyleSheet.create({
  row: { flexDirection: 'row', alignItems: 'center', gap: 8, flexWrap: 'wrap' },
  action: { fontSize: 12, fontWeight: '700', borderRadius: 4, paddingHorizontal: 6, paddingVertical: 1, overflow: 'hidden' },
  written: { color: colors.success, backgroundColor: colors.successBg },
  deleted: { color: colors.danger, backgroundColor: colors.dangerBg },
  path: { fontFamily: monospace, fontSize: 14, color: colors.text, flexShrink: 1 },
  strike: { textDecorationLine: 'line-through', color: colors.muted },
});
