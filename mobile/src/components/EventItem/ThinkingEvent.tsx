import type { EventDataMap } from '@mobvibe/events';
import { StyleSheet, Text, View } from 'react-native';
import { colors } from '../../theme';

/** thinking: the iteration and the tools the agent used in it. */
export function ThinkingEvent({ data }: { data: EventDataMap['thinking'] }) {
  return (
    <>
      <Text style={styles.text}>Iteration {data.iteration}</Text>
      <View style={styles.tools}>
        {data.toolsUsed.length === 0 ? (
          <Text style={styles.none}>No tools used</Text>
        ) : (
          data.toolsUsed.map((tool, i) => (
            <Text key={`${i}-${tool}`} style={styles.tool}>
              {tool}
            </Text>
          ))
        )}
      </View>
    </>
  );
}

const styles = StyleSheet.create({
  text: { color: colors.text, fontSize: 15 },
  tools: { flexDirection: 'row', flexWrap: 'wrap', gap: 6 },
  tool: {
    fontSize: 12,
    color: '#53389e',
    backgroundColor: '#ebe9fe',
    borderRadius: 10,
    paddingHorizontal: 8,
    paddingVertical: 2,
    overflow: 'hidden',
  },
  none: { color: colors.muted, fontSize: 12, fontStyle: 'italic' },
});
