import type { ClientSessionEvent } from '@mobvibe/events';
import type { ConnectionState } from '@mobvibe/realtime-client';
import { useEffect, useRef } from 'react';
import { useNotices, type Notice } from '../contexts/NoticeContext';

/**
 * Raises a notice for each preview_ready, error and completion that arrives after the session's history:
 * the first time the session is live, everything held is history; what comes after is news (including
 * what a reconnect catches up on). Older pages loaded by scrolling up are below that line, so never news.
 */
export function useEventNotices(events: ClientSessionEvent[], state: ConnectionState): void {
  const { show } = useNotices();
  const baseline = useRef<number | undefined>(undefined);
  const announced = useRef(0);

  useEffect(() => {
    const last = events[events.length - 1]?.seq ?? 0;
    if (baseline.current === undefined) {
      if (state.status !== 'live') return;
      baseline.current = last;
      announced.current = last;
      return;
    }
    // New events are at the end; walk back to the last one already announced.
    let i = events.length;
    while (i > 0 && events[i - 1]!.seq > announced.current) i--;
    for (const event of events.slice(i)) {
      const notice = noticeFor(event);
      if (notice) show(notice);
    }
    announced.current = Math.max(announced.current, last);
  }, [events, state.status, show]);
}

/** @internal The notice an event raises, if any. */
export function noticeFor(event: ClientSessionEvent): Notice | undefined {
  switch (event.type) {
    case 'preview_ready':
      return { id: event.id, kind: 'preview', title: 'Preview ready', message: event.data.url, url: event.data.url };
    case 'error':
      return { id: event.id, kind: 'error', title: event.data.code ? `Error ${event.data.code}` : 'Error', message: event.data.message };
    case 'completion':
      return { id: event.id, kind: 'completion', title: 'Session complete', message: event.data.message || 'The session finished.' };
    default:
      return undefined;
  }
}
