// End to end in headless Chromium: the web build served by the real server process at /app, events emitted by
// the worker's EventEmitter, PostgreSQL underneath. Covers what the person holding the phone sees while the
// connection is fine: history then live events, latency, the list, access, each event's look, notices, scrolling.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SessionEvent } from '@mobvibe/events';
import { createTestDatabase, type TestDatabase } from '@mobvibe/testkit';
import type { EventEmitter } from '@mobvibe/worker';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { ONE_OF_EACH, appLink, createSession, dismissNotices, emitterFor, openLive, recordAppearances, screenshot, seenAt, seqsOnScreen } from './support/app.js';
import { launchBrowser, type Browser } from './support/browser.js';
import { ServerProcess, freePort } from './support/serverProcess.js';
import { ensureWebBuild } from './support/webBuild.js';

const alice = randomUUID();
const bob = randomUUID();
let database: TestDatabase;
let sql: pg.Pool;
let server: ServerProcess;
let browser: Browser;
let emitter: EventEmitter;

const thinking = (iteration: number): SessionEvent => ({ type: 'thinking', data: { iteration, toolsUsed: ['bash'] } });

before(async () => {
  await ensureWebBuild();
  database = await createTestDatabase('mv_e2e_live');
  sql = new pg.Pool({ connectionString: database.url, max: 2 });
  server = new ServerProcess(await freePort(), database.url);
  await server.start();
  browser = await launchBrowser();
  emitter = emitterFor(server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await sql?.end();
  await database?.drop();
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  await recordAppearances(page);
  return page;
}

describe('SessionScreen, live', () => {
  it('shows the history first, then live events, in seq order', async () => {
    const session = await createSession(sql, alice);
    await emitter.emitMany(session, [thinking(1), thinking(2), thinking(3)]);
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    assert.deepEqual(await seqsOnScreen(page), [1, 2, 3]);
    await emitter.emit(session, thinking(4));
    await seenAt(page, 4);
    assert.deepEqual(await seqsOnScreen(page), [1, 2, 3, 4]);
    // The access token left the address bar; the session stays in the hash.
    assert.equal(new URL(page.url()).hash, `#session=${session}`);
    await page.close();
  });

  it('an emitted event appears on screen within 500 ms of emit resolving', async (t) => {
    const session = await createSession(sql, alice);
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    const latencies: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const record = await emitter.emit(session, thinking(i));
      const resolvedAt = Date.now();
      const painted = await seenAt(page, record.seq, 2_000);
      latencies.push(painted - resolvedAt);
      await new Promise((r) => setTimeout(r, 50));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)]!;
    const max = sorted[sorted.length - 1]!;
    t.diagnostic(`emit resolved -> painted, 20 events: p50 ${p50} ms, max ${max} ms (negative: painted before emit resolved)`);
    assert.ok(max < 500, `slowest event took ${max} ms: ${latencies.join(', ')}`);
    await page.close();
  });

  it("lists the signed-in user's sessions, newest first, with their status, and nobody else's", async () => {
    const user = randomUUID();
    const older = await createSession(sql, user, 'Older session', 'completed');
    await new Promise((r) => setTimeout(r, 20));
    const newer = await createSession(sql, user, 'Newer session', 'running');
    const foreign = await createSession(sql, bob, 'Bob only', 'running');
    const page = await newPage();
    await page.goto(appLink(server.url, user));
    await page.getByTestId('session-list').waitFor();
    const rows = await page.locator('[data-testid^="session-"][role="button"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    assert.deepEqual(rows, [`session-${newer}`, `session-${older}`]);
    assert.equal(await page.getByTestId(`session-${foreign}`).count(), 0);
    assert.match((await page.getByTestId(`session-${newer}`).getAttribute('aria-label')) ?? '', /Newer session, running/);
    assert.match((await page.getByTestId(`session-${older}`).getAttribute('aria-label')) ?? '', /Older session, completed/);
    await screenshot(page, 'session-list');
    // Opening one shows its screen; back returns to the list.
    await page.getByTestId(`session-${newer}`).click();
    await page.getByTestId('live-badge').waitFor();
    assert.equal(await page.getByTestId('session-title').textContent(), 'Newer session');
    await page.getByTestId('back').click();
    await page.getByTestId('session-list').waitFor();
    await page.close();
  });

  it("another user's session cannot be viewed", async () => {
    const bobs = await createSession(sql, bob, "Bob's private session");
    await emitter.emit(bobs, { type: 'completion', data: { message: 'secret result' } });
    const page = await newPage();
    await page.goto(appLink(server.url, alice, bobs));
    await page.getByTestId('session-unavailable').waitFor({ timeout: 10_000 });
    await emitter.emit(bobs, { type: 'error', data: { message: 'secret failure' } });
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(await seqsOnScreen(page), []);
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /secret|Bob's private/);
    await page.close();
  });

  it('draws each event type its own way, with a screen-reader label', async () => {
    const session = await createSession(sql, alice, 'Every event type');
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    const records = await emitter.emitMany(session, ONE_OF_EACH);
    for (const r of records) await seenAt(page, r.seq);
    const item = (seq: number) => page.getByTestId(`event-${seq}`);
    const label = async (seq: number) => (await item(seq).getAttribute('aria-label')) ?? '';

    assert.equal(await label(1), 'Thinking, iteration 3, tools used: read_file, bash');
    assert.equal(await label(2), 'File written: src/app/page.tsx');
    assert.equal(await label(3), 'File deleted: src/legacy/old.ts');
    assert.equal(await label(4), 'Terminal command: npm test, failed with an error');
    assert.equal(await label(5), 'Preview ready at https://preview.example.com/s/e2e');
    assert.equal(await label(6), 'Error SANDBOX_OOM: Sandbox ran out of memory');
    assert.equal(await label(7), 'Completed: All done: the page renders and its tests pass.');
    for (const r of records) assert.equal(await item(r.seq).getAttribute('role'), 'article');

    // Distinct looks: each type has its own edge colour.
    const edges = await Promise.all(records.filter((r) => r.seq !== 3).map((r) => item(r.seq).evaluate((el) => getComputedStyle(el).borderLeftColor)));
    assert.equal(new Set(edges).size, 6, `edge colours: ${edges.join(', ')}`);

    // terminal: the command, monospace output collapsed to its tail, the error highlighted, expand and collapse.
    const terminal = item(4);
    assert.match(await terminal.innerText(), /\$ npm test/);
    const output = terminal.getByTestId('terminal-output');
    assert.match(await output.evaluate((el) => getComputedStyle(el.querySelector('div:last-child') ?? el).fontFamily), /mono/i);
    assert.match(await output.innerText(), /28 earlier lines hidden/);
    assert.doesNotMatch(await output.innerText(), /ok 1 - test number 1\n/);
    assert.match(await terminal.getByTestId('terminal-error').innerText(), /not ok 41/);
    const toggle = terminal.getByTestId('terminal-toggle');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await dismissNotices(page);
    await screenshot(terminal, 'event-terminal-collapsed');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    assert.match(await output.innerText(), /ok 1 - test number 1\n/);
    await screenshot(terminal, 'event-terminal-expanded');
    await toggle.click();

    // preview_ready: a real link, and a QR code drawn from the URL.
    const link = item(5).getByRole('link', { name: /preview\.example\.com/ });
    assert.equal(await link.getAttribute('href'), 'https://preview.example.com/s/e2e');
    assert.equal(await item(5).getByTestId('qr-code').locator('svg path').count(), 1);
    assert.equal(await item(5).getByTestId('qr-code').getAttribute('aria-label'), 'QR code for https://preview.example.com/s/e2e');

    await dismissNotices(page); // they float over the list; the artifacts show the items themselves
    const names = ['thinking', 'file_change-write', 'file_change-delete', 'terminal', 'preview_ready', 'error', 'completion'];
    for (const [i, name] of names.entries()) {
      await item(i + 1).scrollIntoViewIfNeeded();
      await screenshot(item(i + 1), `event-${name}`);
    }
    await page.close();
  });

  it('preview_ready, error and completion raise a notice; the history does not', async () => {
    const session = await createSession(sql, alice, 'Notices');
    await emitter.emit(session, { type: 'completion', data: { message: 'an old completion' } });
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await page.getByTestId('notices').count(), 0, 'history raised a notice');
    await emitter.emit(session, { type: 'thinking', data: { iteration: 1, toolsUsed: [] } });
    await emitter.emit(session, { type: 'preview_ready', data: { url: 'https://preview.example.com/s/n', qrCode: 'https://preview.example.com/s/n' } });
    await emitter.emit(session, { type: 'error', data: { message: 'Build failed', code: 'BUILD' } });
    await emitter.emit(session, { type: 'completion', data: { message: 'Finished' } });
    await page.getByTestId('notice-completion').waitFor();
    assert.equal(await page.getByTestId('notice-preview').getAttribute('role'), 'alert');
    assert.match(await page.getByTestId('notice-preview').innerText(), /Preview ready[\s\S]*Open preview/);
    assert.match(await page.getByTestId('notice-error').innerText(), /Error BUILD[\s\S]*Build failed/);
    assert.match(await page.getByTestId('notice-completion').innerText(), /Session complete[\s\S]*Finished/);
    await screenshot(page, 'notices');
    await page.getByRole('button', { name: 'Dismiss: Session complete' }).click();
    assert.equal(await page.getByTestId('notice-completion').count(), 0);
    await page.close();
  });

  it('follows new events at the bottom; scrolled up, it stays put and offers "N new events"', async () => {
    const session = await createSession(sql, alice, 'Scrolling');
    await emitter.emitMany(session, Array.from({ length: 30 }, (_, i) => thinking(i + 1)));
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    const list = page.getByTestId('event-list');
    const distanceFromBottom = () =>
      page.evaluate(() => {
        const el = [...document.querySelectorAll('[data-testid="event-list"] *')].find((e) => e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).overflowY !== 'visible')
          ?? document.querySelector('[data-testid="event-list"]')!;
        return el.scrollHeight - el.scrollTop - el.clientHeight;
      });
    // The list scrolls after layout, which a loaded machine may take a while to finish: waited for, within 5 s.
    const atBottom = async (what: string) => {
      let distance = Infinity;
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; await page.waitForTimeout(50)) {
        distance = await distanceFromBottom();
        if (distance < 50) return;
      }
      const button = await page.getByTestId('new-events').count();
      assert.fail(`${what}: still ${distance}px from the bottom after 5 s (the "new events" button ${button ? 'shown' : 'not shown'})`);
    };
    await page.waitForFunction(() => document.querySelector('[data-testid="event-30"]') !== null);
    await atBottom('the history opens at its end');

    await emitter.emit(session, thinking(31));
    await seenAt(page, 31);
    await atBottom('a live event at the bottom is followed');

    await list.hover();
    await page.mouse.wheel(0, -600);
    await page.waitForTimeout(300);
    const before = await distanceFromBottom();
    assert.ok(before > 300, `scrolled up by ${before}px`);
    await emitter.emitMany(session, [thinking(32), thinking(33)]);
    await page.getByTestId('new-events').waitFor();
    await page.waitForFunction(() => /2 new events/.test(document.querySelector('[data-testid="new-events"]')?.textContent ?? ''));
    const after = await distanceFromBottom();
    assert.ok(after >= before, `the reader stayed put (${before} -> ${after})`);
    await screenshot(page, 'new-events-button');

    await page.getByTestId('new-events').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="new-events"]') === null);
    await atBottom('the jump goes to the latest');
    await page.close();
  });

  it('scrolling to the top loads older history, up to the start of the session', async () => {
    const session = await createSession(sql, alice, 'Long history');
    await emitter.emitMany(session, Array.from({ length: 130 }, (_, i) => thinking(i + 1)));
    const page = await newPage();
    await openLive(page, appLink(server.url, alice, session));
    await page.waitForFunction(() => document.querySelector('[data-testid="event-130"]') !== null);
    assert.equal(await page.getByTestId('event-1').count(), 0, 'only the latest page is loaded at first');
    const list = page.getByTestId('event-list');
    await list.hover();
    for (let i = 0; i < 40 && (await page.getByTestId('session-start').count()) === 0; i++) {
      await page.mouse.wheel(0, -3000);
      await page.waitForTimeout(150);
    }
    await page.getByTestId('session-start').waitFor({ timeout: 5_000 });
    await page.getByTestId('event-1').waitFor();
    const seqs = await seqsOnScreen(page);
    assert.deepEqual(seqs.slice(0, 3), [1, 2, 3]);
    assert.equal(new Set(seqs).size, seqs.length, 'no event twice');
    await page.close();
  });

  it('the pages threw nothing and logged no errors', () => {
    assert.deepEqual(browser.errors(), []);
  });
});
