import { useMemo } from 'react';
import { Image, StyleSheet, Text, View } from 'react-native';
import Svg, { Path, Rect } from 'react-native-svg';
import { colors } from '../theme';
import { qrPath } from './qrPath';

/**
 * A QR code for `value`, drawn with react-native-svg (native and web alike). A `data:image/...` value is an
 * already rendered code and is shown as an image.
 *
 * @example
 * <QrCode value="https://preview.example.com/s/1" size={160} label="QR code for the preview" />
 */
export function QrCode({ value, size = 160, label }: { value: string; size?: number; label: string }) {
  const path = useMemo(() => (isImage(value) ? undefined : qrPath(value)), [value]);
  if (isImage(value)) {
    return <Image source={{ uri: value }} style={{ width: size, height: size }} accessibilityLabel={label} role="img" />;
  }
  if (!path) {
    return (
      <View style={[styles.unavailable, { width: size }]} accessibilityLabel={`${label}: too long to encode`}>
        <Text style={styles.unavailableText}>Too long for a QR code</Text>
      </View>
    );
  }
  return (
    <View accessible accessibilityLabel={label} role="img" testID="qr-code">
      <Svg width={size} height={size} viewBox={`0 0 ${path.extent} ${path.extent}`}>
        <Rect x={0} y={0} width={path.extent} height={path.extent} fill="#ffffff" />
        <Path d={path.d} fill="#000000" />
      </Svg>
    </View>
  );
}

function isImage(value: string): boolean {
  return /^data:image\//i.test(value);
}

const styles = StyleSheet.create({
  unavailable: { padding: 8, borderWidth: 1, borderColor: colors.border, borderRadius: 6 },
  unavailableText: { color: colors.muted, fontSize: 12 },
});
