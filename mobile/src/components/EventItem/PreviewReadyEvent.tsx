import type { EventDataMap } from '@mobvibe/events';
import { StyleSheet, Text, View } from 'react-native';
import { colors } from '../../theme';
import { ExternalLink } from '../ExternalLink';
import { QrCode } from '../QrCode';

/** preview_ready: the URL as a link, and a QR code of it (or of the given `qrCode`) to open it on another device. */
export function PreviewReadyEvent({ data }: { data: EventDataMap['preview_ready'] }) {
  return (
    <View style={styles.row}>
      <View style={styles.text}>
        <ExternalLink url={data.url} />
        <Text style={styles.hint}>Scan to open the preview on another device.</Text>
      </View>
      <QrCode value={data.qrCode || data.url} size={132} label={`QR code for ${data.url}`} />
    </View>
  );
}

const styles = StyleSheet.create({
  row: { flexDirection: 'row', gap: 12, alignItems: 'center', flexWrap: 'wrap' },
  text: { flex: 1, minWidth: 160, gap: 4 },
  hint: { color: colors.muted, fontSize: 12 },
});
