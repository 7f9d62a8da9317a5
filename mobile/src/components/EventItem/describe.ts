import type { ClientSessionEvent } from '@mobvibe/events';

/** What a screen reader says for an event: its type first, then what matters in it. */
export function describeEvent(event: ClientSessionEvent): string {
  switch (event.type) {
    case 'thinking': {
      const tools = event.data.toolsUsed.length ? `tools used: ${event.data.toolsUsed.join(', ')}` : 'no tools used';
      return `Thinking, iteration ${event.data.iteration}, ${tools}`;
    }
    case 'file_change':
      return `File ${event.data.action === 'delete' ? 'deleted' : 'written'}: ${event.data.path}`;
    case 'terminal':
      return `Terminal command: ${event.data.command}${event.data.error ? ', failed with an error' : ''}`;
    case 'preview_ready':
      return `Preview ready at ${event.data.url}`;
    case 'error':
      return `Error${event.data.code ? ` ${event.data.code}` : ''}: ${event.data.message}`;
    case 'completion':
      return `Completed: ${event.data.message}`;
  }
}
