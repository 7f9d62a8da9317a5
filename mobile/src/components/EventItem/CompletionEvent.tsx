import type { EventDataMap } from '@mobvibe/events';
import { StyleSheet, Text } from 'react-native';
import { colors } from '../../theme';

/** completion: the agent's closing message. */
export function CompletionEvent({ data }: { data: EventDataMap['completion'] }) {
  return (
    <Text style={styles.message} selectable>
      {data.message || 'The session finished.'}
    </Text>
  );
}

const styles = StyleSheet.create({
  message: { color: colors.success, fontSize: 15, fontWeight: '600' },
});
