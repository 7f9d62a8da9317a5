import type { AgentRunner } from './agent/AgentRunner.js';
import type { SessionEvent, SessionEventRecord } from './events/types.js';

/** One step of the demo: an event, and how long the agent "works" before it (ms, at pace 1). */
export interface DemoStep {
  afterMs: number;
  event: SessionEvent;
}

const PREVIEW_URL = 'https://preview.example.com/s/dark-mode-toggle';

const FIRST_TEST_RUN = `> app@1.4.0 test
> vitest run

 ✓ src/theme/colors.test.ts (4 tests) 12ms
 ✓ src/screens/SettingsScreen.test.tsx (6 tests) 48ms
 ❯ src/components/ThemeToggle.test.tsx (3 tests | 1 failed) 31ms
   × ThemeToggle > renders the current theme

 Test Files  1 failed | 2 passed (3)
      Tests  1 failed | 12 passed (13)
`;

const FIRST_TEST_ERROR = `FAIL  src/components/ThemeToggle.test.tsx > ThemeToggle > renders the current theme
TypeError: Cannot read properties of undefined (reading 'dark')
 ❯ ThemeToggle src/components/ThemeToggle.tsx:14:31
     12|   const { scheme } = useTheme();
     13|   const palette = colors[scheme];
     14|   return <Switch value={palette.dark} onValueChange={toggle} />;
       |                               ^`;

const SECOND_TEST_RUN = `> app@1.4.0 test
> vitest run

 ✓ src/theme/colors.test.ts (4 tests) 11ms
   ✓ light palette has readable contrast
   ✓ dark palette has readable contrast
   ✓ every token exists in both palettes
   ✓ system scheme follows the device
 ✓ src/screens/SettingsScreen.test.tsx (6 tests) 45ms
   ✓ lists the appearance section
   ✓ shows the toggle under appearance
   ✓ persists the chosen scheme
   ✓ restores the scheme on launch
   ✓ announces the change to screen readers
   ✓ keeps the layout in landscape
 ✓ src/components/ThemeToggle.test.tsx (3 tests) 27ms
   ✓ renders the current theme
   ✓ switches to dark and back
   ✓ follows the system until toggled

 Test Files  3 passed (3)
      Tests  13 passed (13)
   Duration  1.12s
`;

const BUILD_OUTPUT = `> app@1.4.0 build
> expo export --platform web

Web Bundled 2140ms index.ts (612 modules)
› Exported: dist
`;

/**
 * A realistic session: the agent reads the code, writes a dark mode toggle, a test fails (error), it thinks
 * again and fixes it (retry), the tests pass, the preview is ready, and it completes. About 16 s at pace 1.
 */
export const DEMO_SCRIPT: readonly DemoStep[] = [
  { afterMs: 600, event: { type: 'thinking', data: { iteration: 1, toolsUsed: ['list_files', 'read_file'] } } },
  { afterMs: 1200, event: { type: 'file_change', data: { path: 'src/theme/colors.ts', action: 'write' } } },
  { afterMs: 900, event: { type: 'file_change', data: { path: 'src/components/ThemeToggle.tsx', action: 'write' } } },
  { afterMs: 900, event: { type: 'file_change', data: { path: 'src/screens/SettingsScreen.tsx', action: 'write' } } },
  { afterMs: 1500, event: { type: 'terminal', data: { command: 'npm test', output: FIRST_TEST_RUN, error: FIRST_TEST_ERROR } } },
  { afterMs: 500, event: { type: 'error', data: { message: '1 test failed: ThemeToggle renders the current theme. Retrying with a fix.', code: 'TESTS_FAILED' } } },
  { afterMs: 1500, event: { type: 'thinking', data: { iteration: 2, toolsUsed: ['read_file', 'edit_file'] } } },
  { afterMs: 1200, event: { type: 'file_change', data: { path: 'src/components/ThemeToggle.tsx', action: 'write' } } },
  { afterMs: 800, event: { type: 'file_change', data: { path: 'src/theme/legacyColors.ts', action: 'delete' } } },
  { afterMs: 1800, event: { type: 'terminal', data: { command: 'npm test', output: SECOND_TEST_RUN } } },
  { afterMs: 1600, event: { type: 'terminal', data: { command: 'npm run build', output: BUILD_OUTPUT } } },
  { afterMs: 1400, event: { type: 'preview_ready', data: { url: PREVIEW_URL, qrCode: PREVIEW_URL } } },
  { afterMs: 1000, event: { type: 'completion', data: { message: 'Added a dark mode toggle to Settings; all 13 tests pass.' } } },
];

export interface PlayOptions {
  /** Multiplies every pause: 1 is real time, 0.1 ten times faster, 0 no pauses. Default 1. */
  pace?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called with each stored record, e.g. to print progress. */
  onEvent?: (record: SessionEventRecord) => void;
}

/**
 * Plays `script` into a session through the agent's runner (hence the worker's EventEmitter), one step at a
 * time with the script's pauses. Resolves to the stored records; a failure stops it and is rethrown.
 *
 * @example
 * await playDemo(new AgentRunner(new EventEmitter()), sessionId, DEMO_SCRIPT, { pace: 0.5 });
 */
export async function playDemo(runner: AgentRunner, sessionId: string, script: readonly DemoStep[] = DEMO_SCRIPT, opts: PlayOptions = {}): Promise<SessionEventRecord[]> {
  const pace = opts.pace ?? 1;
  if (!Number.isFinite(pace) || pace < 0) throw new RangeError(`pace must be a number >= 0, got ${String(pace)}`);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const records: SessionEventRecord[] = [];
  for (const step of script) {
    if (step.afterMs * pace > 0) await sleep(step.afterMs * pace);
    const [record] = await runner.run(sessionId, [step.event]);
    records.push(record!);
    opts.onEvent?.(record!);
  }
  return records;
}
