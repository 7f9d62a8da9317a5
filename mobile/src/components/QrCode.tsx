import qrcode from 'qrcode-generator';
import { useMemo } from 'react';
import { Image, StyleSheet, Text, View } from 'react-native';
import Svg, { Path, Rect } from 'react-native-svg';
import { colors } from '../theme';

const QUIET_ZONE = 4; // modules of white around the code, as the QR spec asks

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

/** @internal One SVG path with a unit square per dark module; undefined when the value cannot be encoded. */
export function qrPath(value: string): { d: string; extent: number } | undefined {
  try {
    const qr = qrcode(0, 'M');
    qr.addData(utf8Binary(value), 'Byte');
    qr.make();
    const n = qr.getModuleCount();
    let d = '';
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) if (qr.isDark(row, col)) d += `M${col + QUIET_ZONE} ${row + QUIET_ZONE}h1v1h-1z`;
    }
    return { d, extent: n + 2 * QUIET_ZONE };
  } catch {
    // qrcode-generator throws when the data exceeds the largest code (about 2.3 kB at level M).
    return undefined;
  }
}

/** The UTF-8 bytes of `s` as a binary string, which is what Byte mode encodes. */
function utf8Binary(s: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(s)) out += String.fromCharCode(b);
  return out;
}

const styles = StyleSheet.create({
  unavailable: { padding: 8, borderWidth: 1, borderColor: colors.border, borderRadius: 6 },
  unavailableText: { color: colors.muted, fontSize: 12 },
});
