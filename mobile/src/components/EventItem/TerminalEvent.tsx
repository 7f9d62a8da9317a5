import type { EventDataMap } from '@mobvibe/events';
import { useState } from 'react';
import { Pressable, StyleSheet, Text, View } from 'react-native';
import { colors, monospace } from '../../theme';
import { collapse } from './collapse';

/** terminal: the command, its output in monospace, the error highlighted; long output collapsed. */
export function TerminalEvent({ data }: { data: EventDataMap['terminal'] }) {
  const [expanded, setExpanded] = useState(false);
  const output = data.output.replace(/\n$/, '');
  const view = collapse(output);
  const shown = expanded || !view.hidden ? output : view.tail;
  return (
    <>
      <Text style={styles.command} selectable>
        <Text style={styles.prompt}>$ </Text>
        {data.command}
      </Text>
      {output !== '' && (
        <View style={styles.output} testID="terminal-output">
          {view.hidden > 0 && !expanded && <Text style={styles.hiddenNote}>… {view.hidden} earlier lines hidden</Text>}
          <Text style={styles.outputText} selectable>
            {shown}
          </Text>
        </View>
      )}
      {view.hidden > 0 && (
        <Pressable
          onPress={() => setExpanded((e) => !e)}
          accessibilityRole="button"
          aria-expanded={expanded}
          accessibilityLabel={expanded ? 'Show less output' : `Show all ${view.lines} lines of output`}
          style={styles.toggle}
          testID="terminal-toggle"
        >
          <Text style={styles.toggleText}>{expanded ? 'Show less' : `Show all ${view.lines} lines`}</Text>
        </Pressable>
      )}
      {data.error ? (
        <View style={styles.error} accessibilityLabel={`Error output: ${data.error}`} testID="terminal-error">
          <Text style={styles.errorLabel}>error</Text>
          <Text style={styles.errorText} selectable>
            {data.error.replace(/\n$/, '')}
          </Text>
        </View>
      ) : null}
    </>
  );
}

const styles = StyleSheet.create({
  command: { fontFamily: monospace, fontSize: 14, color: colors.text, fontWeight: '600' },
  prompt: { color: colors.muted },
  output: { backgroundColor: colors.terminalBg, borderRadius: 6, padding: 10 },
  outputText: { fontFamily: monospace, fontSize: 12, lineHeight: 17, color: colors.terminalText },
  hiddenNote: { fontFamily: monospace, fontSize: 11, color: '#98a2b3', marginBottom: 4 },
  toggle: { alignSelf: 'flex-start', paddingVertical: 4 },
  toggleText: { color: colors.accent, fontWeight: '600', fontSize: 13 },
  error: { backgroundColor: colors.dangerBg, borderColor: colors.danger, borderWidth: 1, borderRadius: 6, padding: 8 },
  errorLabel: { color: colors.danger, fontWeight: '700', fontSize: 11, textTransform: 'uppercase', marginBottom: 2 },
  errorText: { fontFamily: monospace, fontSize: 12, lineHeight: 17, color: colors.danger },
});
