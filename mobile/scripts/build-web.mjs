#!/usr/bin/env node
// Builds the app for the web into mobile/dist (served by the server at /app): type-checks it, then runs
// `expo export --platform web` offline (no Expo services are contacted; everything comes from node_modules).
//   --if-stale   only build when a source is newer than the last build (used by the end-to-end tests)
// Concurrent runs (two test files at once) wait for each other through a lock folder.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

const mobile = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const repo = path.resolve(mobile, '..');
const output = path.join(mobile, 'dist');
const lock = path.join(mobile, '.expo', 'build-web.lock');
const STALE_LOCK_MS = 10 * 60_000;

/** What the web build is made of: the app's sources and config, and the workspace packages it bundles. */
const INPUTS = [
  path.join(mobile, 'index.ts'),
  path.join(mobile, 'app.json'),
  path.join(mobile, 'package.json'),
  path.join(mobile, 'src'),
  path.join(mobile, 'assets'),
  path.join(repo, 'packages', 'events', 'dist'),
  path.join(repo, 'packages', 'realtime-client', 'dist'),
];

async function newestMtime(p) {
  const stat = await fs.stat(p).catch(() => undefined);
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  const entries = await fs.readdir(p);
  const times = await Promise.all(entries.map((e) => newestMtime(path.join(p, e))));
  return Math.max(stat.mtimeMs, ...times);
}

async function isStale() {
  const built = await fs.stat(path.join(output, 'index.html')).catch(() => undefined);
  if (!built) return true;
  const inputs = await Promise.all(INPUTS.map(newestMtime));
  return Math.max(...inputs) > built.mtimeMs;
}

function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: mobile, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? code})`))));
  });
}

async function withLock(fn) {
  await fs.mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const held = await fs.stat(lock).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) await fs.rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

async function build() {
  const started = Date.now();
  const bin = (name) => path.join(repo, 'node_modules', '.bin', name);
  await run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
  await run(bin('tsc'), ['-p', 'test/tsconfig.json']);
  await run(bin('expo'), ['export', '--platform', 'web', '--output-dir', 'dist'], {
    EXPO_OFFLINE: '1',
    EXPO_NO_TELEMETRY: '1',
    EXPO_NO_TYPESCRIPT_SETUP: '1',
    CI: '1',
    NODE_ENV: 'production',
  });
  process.stdout.write(`web build ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${path.relative(process.cwd(), output) || output}\n`);
}

async function main() {
  const ifStale = process.argv.includes('--if-stale');
  await withLock(async () => {
    if (ifStale && !(await isStale())) return;
    await build();
  });
}

main().catch((err) => {
  process.stderr.write(`build-web: ${err.message}\n`);
  process.exit(1);
});
