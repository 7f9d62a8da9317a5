import type { ClientSessionEvent } from '@mobvibe/events';
import type { ReactNode } from 'react';
import { StyleSheet, Text, View } from 'react-native';
import { colors, eventLook, formatTime } from '../../theme';
import { describeEvent } from './describe';

/**
 * @internal The frame every event shares: a coloured edge, the type's glyph and label, the time and seq.
 * The whole card carries one screen-reader label that says what happened.
 */
export function EventCard({ event, children }: { event: ClientSessionEvent; children?: ReactNode }) {
  const look = eventLook[event.type];
  return (
    <View
      role="article"
      accessibilityLabel={describeEvent(event)}
      testID={`event-${event.seq}`}
      style={[styles.card, { borderLeftColor: look.color, backgroundColor: look.tint }]}
    >
      <View style={styles.header}>
        <View style={[styles.badge, { backgroundColor: look.color }]} importantForAccessibility="no">
          <Text style={styles.glyph} aria-hidden>
            {look.glyph}
          </Text>
        </View>
        <Text style={[styles.label, { color: look.color }]}>{look.label}</Text>
        <Text style={styles.meta}>
          {formatTime(event.createdAt)} · #{event.seq}
        </Text>
      </View>
      <View style={styles.body}>{children}</View>
    </View>
  );
}

const styles = StyleSheet.create({
  card: {
    borderLeftWidth: 4,
    borderRadius: 8,
    paddingVertical: 10,
    paddingHorizontal: 12,
    marginHorizontal: 12,
    marginVertical: 5,
    borderWidth: StyleSheet.hairlineWidth,
    borderColor: colors.border,
  },
  header: { flexDirection: 'row', alignItems: 'center', gap: 8 },
  badge: { width: 22, height: 22, borderRadius: 11, alignItems: 'center', justifyContent: 'center' },
  glyph: { color: '#ffffff', fontSize: 13, fontWeight: '700', lineHeight: 16 },
  label: { fontWeight: '700', fontSize: 14, flexShrink: 1 },
  meta: { marginLeft: 'auto', color: colors.muted, fontSize: 12 },
  body: { marginTop: 6, gap: 6 },
});
