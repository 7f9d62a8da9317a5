#!/usr/bin/env node
// Runs every *.test.ts with Node's test runner against a real PostgreSQL.
// Without DATABASE_URL it starts the embedded PostgreSQL under os.tmpdir() for the whole run and removes it
// afterwards; each test file then creates its own database on it. Pass file paths or substrings to filter.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedPostgres, createLogger } from '@mobvibe/realtime-server';
import { freePort } from '@mobvibe/testkit';

const ROOTS = ['packages', 'backend', 'mobile', 'tests'];
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

async function findTests(dir) {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const found = [];
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await findTests(full)));
    else if (/\.test\.tsx?$/.test(e.name)) found.push(full);
  }
  return found;
}

async function main() {
  const filters = process.argv.slice(2);
  let files = (await Promise.all(ROOTS.map((r) => findTests(path.join(root, r))))).flat().sort();
  if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
  if (files.length === 0) throw new Error(`no test files matched ${filters.join(' ')}`);

  let embedded;
  let dataDir;
  const env = { ...process.env };
  if (!env.DATABASE_URL) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-test-'));
    await fs.chmod(dataDir, 0o755);
    embedded = new EmbeddedPostgres({ dataDir, port: await freePort(), logger: createLogger('warn') });
    env.TEST_DATABASE_URL = await embedded.start();
  }
  const concurrency = env.TEST_CONCURRENCY ?? '2';
  process.stdout.write(`# node ${process.version} (${process.execPath}), ${files.length} test files\n`);
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files.map((f) => path.relative(root, f))];
  // The runner and everything it starts (test files, the servers and PostgreSQLs they spawn) form one process
  // group: a run that outlives TEST_RUN_TIMEOUT_MS (default 30 min; a full run takes about 8) is killed as a
  // whole and fails, instead of waiting on a wedged child until CI's own limit; an interrupted run kills it too.
  const runTimeoutMs = Number(env.TEST_RUN_TIMEOUT_MS ?? 30 * 60_000);
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit', detached: true });
  const killGroup = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`\n# the test run passed TEST_RUN_TIMEOUT_MS=${runTimeoutMs}: killing it and everything it started\n`);
    killGroup();
  }, runTimeoutMs);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, killGroup); // then the cleanup below runs
  const code = await new Promise((resolve) => {
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  clearTimeout(watchdog);
  killGroup(); // whatever a test file left behind
  await embedded?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
