import { Platform, StyleSheet, Text, View } from 'react-native';
import { colors, monospace } from '../theme';

/** Shown when the app has no project URL, anon key or access token (sign-in is not part of the app yet). */
export function NotConfiguredScreen({ missing }: { missing: string[] }) {
  const how =
    Platform.OS === 'web'
      ? 'Open the link that `npm start` prints (it signs you in as the demo user), or add #access_token=…&anon_key=… to this address.'
      : 'Set supabaseUrl, supabaseAnonKey and accessToken under "extra" in mobile/app.json.';
  return (
    <View style={styles.screen} testID="not-configured">
      <Text style={styles.title} role="heading">
        Not signed in
      </Text>
      <Text style={styles.text}>
        Missing: <Text style={styles.code}>{missing.join(', ')}</Text>
      </Text>
      <Text style={styles.text}>{how}</Text>
    </View>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1, padding: 24, gap: 12, justifyContent: 'center', maxWidth: 560, alignSelf: 'center' },
  title: { fontSize: 22, fontWeight: '700', color: colors.text },
  text: { fontSize: 15, color: colors.text, lineHeight: 22 },
  code: { fontFamily: monospace },
});
