import type { EventDataMap } from '@mobvibe/events';
import { StyleSheet, Text, View } from 'react-native';
import { colors, monospace } from '../../theme';

/** error: the message, and the code when there is one. */
export function ErrorEvent({ data }: { data: EventDataMap['error'] }) {
  return (
    <View style={styles.row}>
      <Text style={styles.message} selectable>
        {data.message}
      </Text>
      {data.code ? <Text style={styles.code}>{data.code}</Text> : null}
    </View>
  );
}

const styles = StyleSheet.create({
  row: { gap: 6, alignItems: 'flex-start' },
  message: { color: colors.danger, fontSize: 15, fontWeight: '600' },
  code: {
    fontFamily: monospace,
    fontSize: 12,
    color: colors.danger,
    borderColor: colors.danger,
    borderWidth: 1,
    borderRadius: 4,
    paddingHorizontal: 6,
    paddingVertical: 1,
  },
});
