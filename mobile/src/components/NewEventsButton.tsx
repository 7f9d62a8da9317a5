import { Pressable, StyleSheet, Text } from 'react-native';
import { colors } from '../theme';

/** "3 new events ↓": shown while the reader is scrolled up and events keep arriving below. */
export function NewEventsButton({ count, onPress }: { count: number; onPress: () => void }) {
  if (count <= 0) return null;
  const text = `${count} new event${count === 1 ? '' : 's'}`;
  return (
    <Pressable onPress={onPress} accessibilityRole="button" accessibilityLabel={`${text}, jump to the latest`} style={styles.pill} testID="new-events">
      <Text style={styles.text}>{text} ↓</Text>
    </Pressable>
  );
}

const styles = StyleSheet.create({
  pill: {
    position: 'absolute',
    bottom: 16,
    alignSelf: 'center',
    backgroundColor: colors.accent,
    borderRadius: 18,
    paddingHorizontal: 16,
    paddingVertical: 8,
    shadowColor: '#000',
    shadowOpacity: 0.2,
    shadowRadius: 6,
    shadowOffset: { width: 0, height: 2 },
    elevation: 3,
  },
  text: { color: '#ffffff', fontWeight: '700', fontSize: 14 },
});
