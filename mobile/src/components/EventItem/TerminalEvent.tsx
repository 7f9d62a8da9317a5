import type { EventDataMap } from '@mobvibe/events';
import { useState } from 'react';
import { Pressable, StyleSheet, Text, View } from 'react-native';
import { colors, monospace } from '../../theme';

/** Output longer than this many lines (or characters) is collapsed to its last lines. */
export const COLLAPSED_LINES = 12;
const COLLAPSED_CHARS = 2_000;

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

/** @internal The last lines that fit the collapsed view, and how many lines that hides. */
export function collapse(output: string): { lines: number; hidden: number; tail: string } {
  const all = output === '' ? [] : output.split('\n');
  let tail = all.slice(-COLLAPSED_LINES);
  while (tail.length > 1 && tail.join('\n').length > COLLAPSED_CHARS) tail = tail.slice(1);
  let text = tail.join('\n');
  if (text.length > COLLAPSED_CHARS) text = `…${text.slice(-COLLAPSED_CHARS)}`; // one enormous line
  const hidden = all.length - tail.length;
  return { lines: all.length, hidden: hidden === 0 && text !== output ? 1 : hidden, tail: text };
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
