import { Linking, Platform, StyleSheet, Text } from 'react-native';
import { colors } from '../theme';

/**
 * A link that opens in a new tab on the web (react-native-web renders a Text with `href` as an <a>) and in the
 * system browser on devices.
 */
export function ExternalLink({ url, label, testID }: { url: string; label?: string; testID?: string }) {
  const web = Platform.OS === 'web' ? ({ href: url, hrefAttrs: { target: '_blank', rel: 'noopener noreferrer' } } as object) : {};
  return (
    <Text
      {...web}
      role="link"
      accessibilityLabel={label ? `${label}: ${url}` : `Open ${url}`}
      onPress={Platform.OS === 'web' ? undefined : () => void Linking.openURL(url)}
      style={styles.link}
      testID={testID}
    >
      {label ?? url}
    </Text>
  );
}

const styles = StyleSheet.create({
  link: { color: colors.accent, textDecorationLine: 'underline', fontSize: 15 },
});
