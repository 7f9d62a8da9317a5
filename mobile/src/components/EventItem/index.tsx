import type { ClientSessionEvent } from '@mobvibe/events';
import { memo } from 'react';
import { CompletionEvent } from './CompletionEvent';
import { ErrorEvent } from './ErrorEvent';
import { EventCard } from './EventCard';
import { FileChangeEvent } from './FileChangeEvent';
import { PreviewReadyEvent } from './PreviewReadyEvent';
import { TerminalEvent } from './TerminalEvent';
import { ThinkingEvent } from './ThinkingEvent';

/**
 * One session event, drawn by its type. Events never change once stored, so an item re-renders only when
 * it is a different event.
 *
 * @example
 * <EventItem event={event} />
 */
export const EventItem = memo(function EventItem({ event }: { event: ClientSessionEvent }) {
  return <EventCard event={event}>{body(event)}</EventCard>;
}, (a, b) => a.event.id === b.event.id);

function body(event: ClientSessionEvent) {
  switch (event.type) {
    case 'thinking':
      return <ThinkingEvent data={event.data} />;
    case 'file_change':
      return <FileChangeEvent data={event.data} />;
    case 'terminal':
      return <TerminalEvent data={event.data} />;
    case 'preview_ready':
      return <PreviewReadyEvent data={event.data} />;
    case 'error':
      return <ErrorEvent data={event.data} />;
    case 'completion':
      return <CompletionEvent data={event.data} />;
  }
}

export { describeEvent } from './describe';
