import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionEvent } from '@mobvibe/events';
import { projectKeys, userToken } from '@mobvibe/realtime-server';
import { TEST_JWT_SECRET } from '@mobvibe/testkit';
import { EventEmitter, createLogger } from '@mobvibe/worker';
import pg from 'pg';
import type { Page } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Screenshots the tests keep (git-ignored). */
export const ARTIFACTS = path.join(repo, 'test-artifacts', 'e2e');

export const keys = projectKeys(TEST_JWT_SECRET);

/** The link that opens the app on `apiUrl` signed in as `userId` (what `npm start` prints for the demo user). */
export function appLink(apiUrl: string, userId: string, sessionId?: string, expiresIn = 3600): string {
  const params = new URLSearchParams({ access_token: userToken(TEST_JWT_SECRET, userId, { expiresIn }), anon_key: keys.anonKey });
  if (sessionId) params.set('session', sessionId);
  return `${apiUrl}/app/#${params.toString()}`;
}

/** The worker's EventEmitter against `apiUrl`, as the agent uses it. */
export function emitterFor(apiUrl: string): EventEmitter {
  return new EventEmitter({ supabaseUrl: apiUrl, serviceRoleKey: keys.serviceRoleKey, logger: createLogger('silent') });
}

/** Inserts a session owned by `userId` with plain SQL; returns its id. */
export async function createSession(sql: pg.Pool, userId: string, title = 'e2e session', status = 'running'): Promise<string> {
  const id = randomUUID();
  await sql.query('insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, $4)', [id, userId, title, status]);
  return id;
}

/**
 * Records, in the page, when each event first appears: the time of the first animation frame after the
 * DOM node for `event-<seq>` was inserted, i.e. when it is painted. Read it with {@link seenAt}.
 */
export async function recordAppearances(page: Page): Promise<void> {
  // A string, not a function: tsx (esbuild keepNames) would wrap inner functions in a `__name` helper that
  // does not exist in the page.
  await page.addInitScript({ content: RECORDER });
}

const RECORDER = `
  window.__mvSeen = {};
  new MutationObserver(function () {
    var fresh = [];
    document.querySelectorAll('[data-testid^="event-"]').forEach(function (el) {
      var m = /^event-(\\d+)$/.exec(el.getAttribute('data-testid') || '');
      if (m && window.__mvSeen[Number(m[1])] === undefined) fresh.push(Number(m[1]));
    });
    if (fresh.length === 0) return;
    fresh.forEach(function (seq) { window.__mvSeen[seq] = -1; }); // inserted, not yet painted
    requestAnimationFrame(function () {
      var now = Date.now();
      fresh.forEach(function (seq) { window.__mvSeen[seq] = now; });
    });
  }).observe(document, { childList: true, subtree: true });
`;

/** When event `seq` was painted (epoch ms), waiting up to `timeoutMs` for it. */
export async function seenAt(page: Page, seq: number, timeoutMs = 5_000): Promise<number> {
  const handle = await page.waitForFunction((s) => {
    const t = (window as unknown as { __mvSeen?: Record<number, number> }).__mvSeen?.[s];
    return t !== undefined && t > 0 ? t : false;
  }, seq, { timeout: timeoutMs, polling: 'raf' });
  return (await handle.jsonValue()) as number;
}

/** The seqs of the event items in the page, in document order. */
export function seqsOnScreen(page: Page): Promise<number[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid^="event-"]')]
      .map((el) => /^event-(\d+)$/.exec(el.getAttribute('data-testid') ?? '')?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number),
  );
}

/** Opens the app on a session and waits until it is live (history loaded, subscribed). */
export async function openLive(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await page.getByTestId('live-badge').waitFor({ timeout: 20_000 });
}

/** Closes every in-app notice on the page. */
export async function dismissNotices(page: Page): Promise<void> {
  const buttons = page.getByRole('button', { name: /^Dismiss: / });
  while ((await buttons.count()) > 0) await buttons.first().click();
}

export async function screenshot(target: Page | ReturnType<Page['locator']>, name: string): Promise<string> {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await target.screenshot({ path: file });
  return file;
}

/** One event of each type, with a long terminal output (collapsed) and an error in it. */
export const ONE_OF_EACH: SessionEvent[] = [
  { type: 'thinking', data: { iteration: 3, toolsUsed: ['read_file', 'bash'] } },
  { type: 'file_change', data: { path: 'src/app/page.tsx', action: 'write' } },
  { type: 'file_change', data: { path: 'src/legacy/old.ts', action: 'delete' } },
  {
    type: 'terminal',
    data: {
      command: 'npm test',
      output: Array.from({ length: 40 }, (_, i) => `ok ${i + 1} - test number ${i + 1}`).join('\n') + '\n',
      error: 'not ok 41 - renders the header\n  AssertionError: expected "Home" to equal "Start"',
    },
  },
  { type: 'preview_ready', data: { url: 'https://preview.example.com/s/e2e', qrCode: '' } },
  { type: 'error', data: { message: 'Sandbox ran out of memory', code: 'SANDBOX_OOM' } },
  { type: 'completion', data: { message: 'All done: the page renders and its tests pass.' } },
];
