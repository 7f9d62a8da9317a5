import type { ClientSessionEvent } from '@mobvibe/events';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ActivityIndicator, FlatList, Pressable, StyleSheet, Text, View, type LayoutChangeEvent, type NativeScrollEvent, type NativeSyntheticEvent } from 'react-native';
import { colors } from '../theme';
import { EventItem } from './EventItem';
import { NewEventsButton } from './NewEventsButton';

/** Within this many pixels of the end counts as "at the bottom" (auto-scroll stays on). */
const BOTTOM_SLOP = 48;
/** Within this many pixels of the top, older history is loaded. */
const TOP_TRIGGER = 120;

type Older = 'idle' | 'loading' | 'done' | 'failed';

export interface EventListProps {
  events: ClientSessionEvent[];
  /** Loads the page before the oldest event; resolves to how many were added. */
  loadOlder: () => Promise<number>;
  /** Shown when there are no events yet. */
  emptyText: string;
}

/**
 * A session's events, oldest at the top. It follows new events while the reader is at the bottom; scrolled
 * up, it stays put and offers "N new events" instead. Reaching the top loads older history, keeping the
 * events in view where they were.
 */
export function EventList({ events, loadOlder, emptyText }: EventListProps) {
  const list = useRef<FlatList<ClientSessionEvent>>(null);
  const atBottom = useRef(true);
  const scroll = useRef({ offset: 0, contentHeight: 0, viewport: 0 });
  /** Set while older events are being prepended: where the reader was, to restore after the layout grows. */
  const anchor = useRef<{ offset: number; contentHeight: number } | undefined>(undefined);
  const lastSeq = useRef<number | undefined>(undefined);
  const lastOffset = useRef(0);
  const [unseen, setUnseen] = useState(0);
  const [older, setOlder] = useState<Older>('idle');

  const first = events[0]?.seq;
  const atStart = first === undefined || first <= 1 || older === 'done';

  // Count what arrived below while the reader was scrolled up.
  useEffect(() => {
    const last = events[events.length - 1]?.seq;
    const previous = lastSeq.current;
    lastSeq.current = last;
    if (previous === undefined || last === undefined || last <= previous || atBottom.current) return;
    let added = 0;
    for (let i = events.length - 1; i >= 0 && events[i]!.seq > previous; i--) added++;
    setUnseen((n) => n + added);
  }, [events]);

  /**
   * Scrolls to the measured end. FlatList's scrollToEnd works from estimated cell sizes and can stop short of
   * a tall item that was just added, which would look like "the reader scrolled up"; the content height
   * reported by onContentSizeChange is exact.
   */
  const scrollToBottom = useCallback((animated: boolean) => {
    const { contentHeight, viewport } = scroll.current;
    list.current?.scrollToOffset({ offset: Math.max(0, contentHeight - viewport), animated });
  }, []);

  const jumpToEnd = useCallback(() => {
    atBottom.current = true;
    setUnseen(0);
    // Not animated: a smooth scroll through a virtualized list changes the content height on the way.
    scrollToBottom(false);
  }, [scrollToBottom]);

  const fetchOlder = useCallback(async () => {
    if (older === 'loading' || atStart) return;
    anchor.current = { offset: scroll.current.offset, contentHeight: scroll.current.contentHeight };
    setOlder('loading');
    try {
      const added = await loadOlder();
      if (added === 0) anchor.current = undefined;
      setOlder(added === 0 ? 'done' : 'idle');
    } catch (err) {
      anchor.current = undefined;
      console.warn('[session] loading older events failed', err);
      setOlder('failed');
    }
  }, [older, atStart, loadOlder]);

  const onScroll = useCallback(
    (e: NativeSyntheticEvent<NativeScrollEvent>) => {
      const { contentOffset, contentSize, layoutMeasurement } = e.nativeEvent;
      scroll.current = { offset: contentOffset.y, contentHeight: contentSize.height, viewport: layoutMeasurement.height };
      if (anchor.current) anchor.current.offset = contentOffset.y;
      const distance = contentSize.height - (contentOffset.y + layoutMeasurement.height);
      const movedUp = contentOffset.y < lastOffset.current - 1;
      lastOffset.current = contentOffset.y;
      // Only the reader moving up leaves the bottom. Judging by distance alone would misread the scroll event
      // of our own scroll-to-end that arrives after more content was already laid out below.
      if (distance <= BOTTOM_SLOP) atBottom.current = true;
      else if (movedUp) atBottom.current = false;
      // Following, yet short of the end (a scroll-to-end made before the last cells were laid out, while the
      // list rendered them in batches): go on to the end this scroll event measured.
      else if (atBottom.current) scrollToBottom(false);
      if (atBottom.current) setUnseen(0);
      const scrollable = contentSize.height > layoutMeasurement.height + BOTTOM_SLOP;
      if (scrollable && contentOffset.y <= TOP_TRIGGER && older === 'idle') void fetchOlder();
    },
    [fetchOlder, older, scrollToBottom],
  );

  const onContentSizeChange = useCallback((_w: number, height: number) => {
    const grownBy = height - scroll.current.contentHeight;
    scroll.current.contentHeight = height;
    const a = anchor.current;
    if (a && height !== a.contentHeight) {
      // Older events went in above: move down by what they added, so the same events stay in view.
      anchor.current = undefined;
      list.current?.scrollToOffset({ offset: a.offset + (height - a.contentHeight), animated: false });
      return;
    }
    if (atBottom.current && grownBy !== 0) scrollToBottom(false);
  }, [scrollToBottom]);

  const onLayout = useCallback(
    (e: LayoutChangeEvent) => {
      scroll.current.viewport = e.nativeEvent.layout.height;
      if (atBottom.current) scrollToBottom(false);
    },
    [scrollToBottom],
  );

  if (events.length === 0) {
    return (
      <View style={styles.empty} testID="events-empty">
        <Text style={styles.emptyText}>{emptyText}</Text>
      </View>
    );
  }

  return (
    <View style={styles.container}>
      <FlatList
        ref={list}
        data={events}
        keyExtractor={(e) => e.id}
        renderItem={({ item }) => <EventItem event={item} />}
        onScroll={onScroll}
        scrollEventThrottle={32}
        onContentSizeChange={onContentSizeChange}
        onLayout={onLayout}
        ListHeaderComponent={<ListStart state={atStart ? 'start' : older} onLoad={fetchOlder} />}
        contentContainerStyle={styles.content}
        role="feed"
        accessibilityLabel="Session events"
        testID="event-list"
      />
      <NewEventsButton count={unseen} onPress={jumpToEnd} />
    </View>
  );
}

/** The top of the list: the start of the session, a spinner while older events load, or a button to load them. */
function ListStart({ state, onLoad }: { state: Older | 'start'; onLoad: () => void }) {
  if (state === 'start') {
    return (
      <Text style={styles.start} testID="session-start">
        Start of the session
      </Text>
    );
  }
  if (state === 'loading') return <ActivityIndicator style={styles.spinner} accessibilityLabel="Loading earlier events" />;
  return (
    <Pressable onPress={onLoad} accessibilityRole="button" style={styles.loadButton} testID="load-older">
      <Text style={styles.loadText}>{state === 'failed' ? 'Loading failed. Try again' : 'Load earlier events'}</Text>
    </Pressable>
  );
}

const styles = StyleSheet.create({
  container: { flex: 1 },
  content: { paddingVertical: 8 },
  empty: { flex: 1, alignItems: 'center', justifyContent: 'center', padding: 24 },
  emptyText: { color: colors.muted, fontSize: 15, textAlign: 'center' },
  start: { textAlign: 'center', color: colors.muted, fontSize: 12, paddingVertical: 8 },
  spinner: { paddingVertical: 10 },
  loadButton: { alignSelf: 'center', paddingVertical: 8, paddingHorizontal: 12 },
  loadText: { color: colors.accent, fontWeight: '600', fontSize: 13 },
});
