// The newcomer's path, end to end: `npm start` (the server process, demo on) prints a link; the link opens the
// web app signed in as the demo user on the demo session; `npm run demo` (scripts/demo.mjs) streams the
// scripted session through the worker's AgentRunner and EventEmitter, and the browser shows it live.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEMO_SESSION_ID } from '@mobvibe/realtime-server';
import { TEST_JWT_SECRET, createTestDatabase, type TestDatabase } from '@mobvibe/testkit';
import { dismissNotices, screenshot, seqsOnScreen } from './support/app.js';
import { launchBrowser, type Browser } from './support/browser.js';
import { ServerProcess, freePort } from './support/serverProcess.js';
import { ensureWebBuild } from './support/webBuild.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let database: TestDatabase;
let server: ServerProcess;
let browser: Browser;

before(async () => {
  await ensureWebBuild();
  database = await createTestDatabase('mv_e2e_demo');
  server = new ServerProcess(await freePort(), database.url, { MOBVIBE_DEMO: '1' });
  await server.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await database?.drop();
});

/** Runs `npm run demo`'s script against the test server; resolves to its output. */
function runDemo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repo, 'scripts', 'demo.mjs'), ...args], {
      cwd: repo,
      env: { ...process.env, SUPABASE_URL: server.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`npm run demo failed (exit ${code}):\n${out}`));
    });
  });
}

describe('the demo', () => {
  it('npm start prints a link to the demo session; npm run demo streams a coding session into it, live', async () => {
    const link = /(http:\/\/127\.0\.0\.1:\d+\/app\/#access_token=\S+)/.exec(server.output)?.[1];
    assert.ok(link, `no demo link in:\n${server.output}`);
    assert.match(link, new RegExp(`session=${DEMO_SESSION_ID}`));

    const page = await browser.newPage();
    await page.goto(link);
    await page.getByTestId('live-badge').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId('session-title').textContent(), 'Demo: add a dark mode toggle');
    await page.getByTestId('events-empty').waitFor();
    await screenshot(page, 'demo-waiting');

    const out = await runDemo(['--pace', '0.05']);
    assert.match(out, /Streaming 13 events/);
    assert.match(out, /Done\./);

    await page.getByTestId('event-13').waitFor({ timeout: 10_000 });
    await page.waitForTimeout(300);
    assert.equal(await page.getByTestId('new-events').count(), 0, 'the view followed the stream to its end');
    assert.deepEqual(await seqsOnScreen(page), Array.from({ length: 13 }, (_, i) => i + 1));
    const labels = await page.locator('[role="article"]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')!.split(/[ ,:]/)[0]));
    assert.deepEqual(labels, ['Thinking', 'File', 'File', 'File', 'Terminal', 'Error', 'Thinking', 'File', 'File', 'Terminal', 'Terminal', 'Preview', 'Completed']);
    // The error and the completion raised notices; the thinking that follows the error is the retry.
    await page.getByTestId('notice-completion').waitFor();
    await screenshot(page, 'demo-live-with-notices');
    await dismissNotices(page);
    await screenshot(page, 'demo-live');

    // The session list shows the demo session, completed.
    await page.getByTestId('back').click();
    await page.getByTestId(`session-${DEMO_SESSION_ID}`).waitFor();
    assert.match((await page.getByTestId(`session-${DEMO_SESSION_ID}`).getAttribute('aria-label')) ?? '', /completed/);
    await page.close();
  });
});
