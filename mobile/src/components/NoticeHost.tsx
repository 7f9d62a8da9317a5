import { StyleSheet, View } from 'react-native';
import { useNotices } from '../contexts/NoticeContext';
import { Notice } from './Notice';

/** Shows the current notices over the screen, newest last. */
export function NoticeHost() {
  const { notices, dismiss } = useNotices();
  if (notices.length === 0) return null;
  return (
    <View style={styles.host} pointerEvents="box-none" testID="notices">
      {notices.map((n) => (
        <Notice key={n.id} notice={n} onDismiss={() => dismiss(n.id)} />
      ))}
    </View>
  );
}

const styles = StyleSheet.create({
  host: { position: 'absolute', left: 12, right: 12, top: 56, gap: 6, alignItems: 'stretch' },
});
