import type { SessionEvent } from '../events/types.js';

/** A short scripted session for demos: what an agent reports while it adds a page and previews it. */
export const DEMO_STEPS: readonly SessionEvent[] = [
  { type: 'thinking', data: { iteration: 1, toolsUsed: [] } },
  { type: 'file_change', data: { path: 'src/App.tsx', action: 'write' } },
  { type: 'terminal', data: { command: 'npm test', output: '12 passing\n' } },
  { type: 'thinking', data: { iteration: 2, toolsUsed: ['bash', 'edit'] } },
  { type: 'preview_ready', data: { url: 'https://preview.example.com/s/demo', qrCode: 'https://preview.example.com/s/demo' } },
  { type: 'completion', data: { message: 'Added the page and its tests.' } },
];
