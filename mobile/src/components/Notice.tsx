import { Pressable, StyleSheet, Text, View } from 'react-native';
import type { Notice as NoticeData } from '../contexts/NoticeContext';
import { colors, eventLook } from '../theme';
import { ExternalLink } from './ExternalLink';

const LOOK = { preview: eventLook.preview_ready, error: eventLook.error, completion: eventLook.completion } as const;

/** One in-app notice: what happened, a link when there is one, and a close button. */
export function Notice({ notice, onDismiss }: { notice: NoticeData; onDismiss: () => void }) {
  const look = LOOK[notice.kind];
  return (
    <View
      role="alert"
      accessibilityLabel={`${notice.title}: ${notice.message}`}
      style={[styles.notice, { borderLeftColor: look.color }]}
      testID={`notice-${notice.kind}`}
    >
      <View style={styles.text}>
        <Text style={[styles.title, { color: look.color }]}>
          {look.glyph} {notice.title}
        </Text>
        <Text style={styles.message} numberOfLines={3}>
          {notice.message}
        </Text>
        {notice.url ? <ExternalLink url={notice.url} label="Open preview" /> : null}
      </View>
      <Pressable onPress={onDismiss} accessibilityRole="button" accessibilityLabel={`Dismiss: ${notice.title}`} style={styles.close}>
        <Text style={styles.closeText}>×</Text>
      </Pressable>
    </View>
  );
}

const styles = StyleSheet.create({
  notice: {
    flexDirection: 'row',
    alignItems: 'flex-start',
    backgroundColor: colors.surface,
    borderLeftWidth: 5,
    borderRadius: 8,
    padding: 10,
    gap: 8,
    shadowColor: '#000',
    shadowOpacity: 0.15,
    shadowRadius: 8,
    shadowOffset: { width: 0, height: 2 },
    elevation: 4,
  },
  text: { flex: 1, gap: 2 },
  title: { fontWeight: '700', fontSize: 14 },
  message: { color: colors.text, fontSize: 13 },
  close: { paddingHorizontal: 6 },
  closeText: { fontSize: 20, lineHeight: 20, color: colors.muted },
});
