// End to end in headless Chromium, with the connection going wrong: the server process stopped (SIGTERM) or
// killed (SIGKILL) and restarted on the same port, and the browser going offline. What the person sees: the
// indicator says what is happening, and afterwards every event emitted meanwhile is on screen exactly once.
// While the app's server is down, the worker emits through a second server process on the same database
// (as another instance behind a load balancer would), so those events exist before the app reconnects.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SessionEvent } from '@mobvibe/events';
import { createTestDatabase, type TestDatabase } from '@mobvibe/testkit';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { appLink, createSession, emitterFor, openLive, screenshot, seqsOnScreen } from './support/app.js';
import { launchBrowser, type Browser } from './support/browser.js';
import { ServerProcess, freePort } from './support/serverProcess.js';
import { ensureWebBuild } from './support/webBuild.js';

const user = randomUUID();
let database: TestDatabase;
let sql: pg.Pool;
let server: ServerProcess;
let other: ServerProcess;
let browser: Browser;

const thinking = (iteration: number): SessionEvent => ({ type: 'thinking', data: { iteration, toolsUsed: ['edit'] } });
const indicator = (page: Page) => page.getByTestId('connection-label');

before(async () => {
  await ensureWebBuild();
  database = await createTestDatabase('mv_e2e_resilience');
  sql = new pg.Pool({ connectionString: database.url, max: 2 });
  server = new ServerProcess(await freePort(), database.url);
  other = new ServerProcess(await freePort(), database.url);
  await server.start();
  await other.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await other?.stop();
  await sql?.end();
  await database?.drop();
});

/** Waits until the indicator is gone (live again) and every seq in 1..n is on screen exactly once. */
async function expectAllOnce(page: Page, n: number): Promise<void> {
  await page.getByTestId('connection-indicator').waitFor({ state: 'detached', timeout: 60_000 });
  await page.getByTestId(`event-${n}`).waitFor({ timeout: 10_000 });
  const seqs = await seqsOnScreen(page);
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1), `on screen: ${seqs.join(',')}`);
}

describe('ConnectionIndicator and catch-up, with the server going away', () => {
  it('stopping the server shows "Reconnecting in N s (attempt k)"; after a restart the app catches up, each event once', async () => {
    const session = await createSession(sql, user, 'Server restart');
    const page = await browser.newPage();
    await openLive(page, appLink(server.url, user, session));
    const emitter = emitterFor(other.url);
    await emitter.emitMany(session, [thinking(1), thinking(2), thinking(3)]);
    await page.getByTestId('event-3').waitFor();
    assert.equal(await page.getByTestId('connection-indicator').count(), 0, 'hidden while live');

    await server.stop();
    await indicator(page).filter({ hasText: /^Reconnecting in \d+ s \(attempt \d+\)$/ }).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('live-badge').count(), 0);
    await screenshot(page, 'indicator-reconnecting');

    // Emitted while the app's server is down: the app cannot have seen these.
    await emitter.emitMany(session, [thinking(4), thinking(5), { type: 'terminal', data: { command: 'npm run build', output: 'built\n' } }]);
    await emitter.emit(session, { type: 'completion', data: { message: 'Done while you were away' } });
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await seqsOnScreen(page), [1, 2, 3]);

    await server.start();
    await expectAllOnce(page, 7);
    await page.getByTestId('live-badge').waitFor();
    // Live again, and live events keep coming, once each.
    await emitterFor(server.url).emit(session, thinking(8));
    await page.getByTestId('event-8').waitFor();
    assert.deepEqual(await seqsOnScreen(page), [1, 2, 3, 4, 5, 6, 7, 8]);
    await page.close();
  });

  it('a killed server (SIGKILL) is noticed at once, and the app resumes after its restart', async () => {
    const session = await createSession(sql, user, 'Server killed');
    const page = await browser.newPage();
    await openLive(page, appLink(server.url, user, session));
    const emitter = emitterFor(other.url);
    await emitter.emit(session, thinking(1));
    await page.getByTestId('event-1').waitFor();

    await server.kill();
    await indicator(page).filter({ hasText: /^Reconnecting/ }).waitFor({ timeout: 15_000 });
    await emitter.emitMany(session, [thinking(2), thinking(3)]);
    await server.start();
    await expectAllOnce(page, 3);
    await page.close();
  });

  it('going offline shows "Offline"; back online it catches up and hides', async () => {
    const session = await createSession(sql, user, 'Offline');
    const page = await browser.newPage();
    await openLive(page, appLink(server.url, user, session));
    const emitter = emitterFor(server.url);
    await emitter.emit(session, thinking(1));
    await page.getByTestId('event-1').waitFor();

    await browser.context.setOffline(true);
    try {
      await indicator(page).filter({ hasText: /^Offline$/ }).waitFor({ timeout: 10_000 });
      await screenshot(page, 'indicator-offline');
      await emitter.emit(session, thinking(2));
    } finally {
      await browser.context.setOffline(false);
    }
    await expectAllOnce(page, 2);
    await page.close();
  });

  it('a token that expired while the server was away shows "Error" with the reason', async () => {
    const session = await createSession(sql, user, 'Expired token');
    const page = await browser.newPage();
    await openLive(page, appLink(server.url, user, session, 4));
    await server.stop();
    await indicator(page).filter({ hasText: /^Reconnecting/ }).waitFor({ timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 4_500));
    await server.start();
    await indicator(page).filter({ hasText: /^Error: \S/ }).waitFor({ timeout: 40_000 });
    const text = (await indicator(page).textContent()) ?? '';
    assert.match(text, /expired|jwt|token/i, text);
    await screenshot(page, 'indicator-error');
    await page.close();
  });
});
