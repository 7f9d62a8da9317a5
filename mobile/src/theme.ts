import { Platform } from 'react-native';
import type { EventType } from '@mobvibe/events';

export const colors = {
  background: '#f4f5f7',
  surface: '#ffffff',
  text: '#1b1f24',
  muted: '#5b6470',
  border: '#d8dde3',
  accent: '#2456d6',
  terminalBg: '#14181f',
  terminalText: '#e6edf3',
  danger: '#b42318',
  dangerBg: '#fef3f2',
  success: '#067647',
  successBg: '#ecfdf3',
  warning: '#a15c07',
  warningBg: '#fffaeb',
} as const;

export const monospace = Platform.select({ ios: 'Menlo', android: 'monospace', default: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace' });

/** How each event type looks: a label, a glyph and a colour, so types differ by more than colour alone. */
export const eventLook: Record<EventType, { label: string; glyph: string; color: string; tint: string }> = {
  thinking: { label: 'Thinking', glyph: '…', color: '#6941c6', tint: '#f4f3ff' },
  file_change: { label: 'File change', glyph: '✎', color: '#2456d6', tint: '#eff4ff' },
  terminal: { label: 'Terminal', glyph: '$', color: '#344054', tint: '#f2f4f7' },
  preview_ready: { label: 'Preview ready', glyph: '▶', color: '#0e7090', tint: '#ecfdff' },
  error: { label: 'Error', glyph: '!', color: colors.danger, tint: colors.dangerBg },
  completion: { label: 'Completed', glyph: '✓', color: colors.success, tint: colors.successBg },
};

/** Colours of a session's status badge. */
export function statusLook(status: string | null): { color: string; tint: string } {
  switch (status) {
    case 'running':
    case 'active':
      return { color: '#2456d6', tint: '#eff4ff' };
    case 'completed':
    case 'done':
      return { color: colors.success, tint: colors.successBg };
    case 'failed':
    case 'error':
      return { color: colors.danger, tint: colors.dangerBg };
    default:
      return { color: colors.muted, tint: '#f2f4f7' };
  }
}

export function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
