// The server process as a newcomer runs it: npm start's entry point, embedded PostgreSQL, SIGTERM, restart, kill -9.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEV_JWT_SECRET, projectKeys, verifyJwt } from '@mobvibe/realtime-server';
import { freePort, TEST_JWT_SECRET } from '@mobvibe/testkit';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(pkgDir, 'dist', 'main.js');
const cli = path.join(pkgDir, 'dist', 'cli.js');
let dataDir: string;
let port: number;
let pgPort: number;

interface Started {
  child: ChildProcess;
  output: () => string;
}

// Every server a test starts, so that a failing test never leaves one (and its PostgreSQL) running: the next
// test would meet EADDRINUSE and this file's process would wait on the child forever.
const children = new Set<ChildProcess>();

async function start(env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), PG_PORT: String(pgPort), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  while (!out.includes('service_role key:')) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

const keyFrom = (out: string, label: string) => new RegExp(`${label}: (\\S+)`).exec(out)![1]!;
const pgPid = async () => Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

before(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-proc-'));
  await fs.chmod(dataDir, 0o755);
  port = await freePort();
  pgPort = await freePort();
});
// A test that failed half-way: stop its server (SIGTERM stops its PostgreSQL too; SIGKILL if it does not exit),
// then any PostgreSQL a SIGKILLed server left behind.
async function stopLeftovers(): Promise<void> {
  for (const child of children) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited(child);
    clearTimeout(timer);
  }
  const pid = await pgPid().catch(() => 0);
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
}

afterEach(stopLeftovers);
after(async () => {
  await stopLeftovers();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('prints the API URL and the anon key (never the service_role key with a real secret), answers /health, and a SIGTERM stops it and its PostgreSQL', async () => {
    const s = await start({ JWT_SECRET: TEST_JWT_SECRET });
    const out = s.output();
    assert.match(out, new RegExp(`API URL: http://127\\.0\\.0\\.1:${port}`));
    assert.equal(verifyJwt(keyFrom(out, 'anon key'), TEST_JWT_SECRET).role, 'anon');
    assert.ok(!out.includes(projectKeys(TEST_JWT_SECRET).serviceRoleKey), 'the service_role key is not printed');
    assert.match(out, /service_role key: not printed \(JWT_SECRET is set\); print it with: npx mobvibe-realtime keys --service-role/);
    assert.doesNotMatch(out, /WARNING: JWT_SECRET is not set/);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', realtime: 'up' });
    const service = projectKeys(TEST_JWT_SECRET).serviceRoleKey;
    const created = await fetch(`http://127.0.0.1:${port}/rest/v1/sessions`, {
      method: 'POST',
      headers: { apikey: service, 'content-type': 'application/json' },
      body: JSON.stringify({ id: '00000000-0000-4000-8000-000000000001', user_id: '00000000-0000-4000-8000-0000000000aa', title: 'kept' }),
    });
    assert.equal(created.status, 201);
    // The token command, exactly as printed, pasted at the repository root (the <uuid> filled in).
    const printed = /Mint a user token:\s+(npx mobvibe-realtime token --user <uuid>)$/m.exec(out)?.[1];
    assert.ok(printed, `the token command is printed:\n${out}`);
    const user = '00000000-0000-4000-8000-0000000000bb';
    const [cmd, ...args] = printed.replace('<uuid>', user).split(' ');
    const minted = await promisify(execFile)(cmd!, args, { cwd: path.resolve(pkgDir, '../..'), env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET } });
    const claims = verifyJwt(minted.stdout.trim(), TEST_JWT_SECRET);
    assert.deepEqual([claims.sub, claims.role], [user, 'authenticated']);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.deepEqual([ready.status, await ready.json()], [200, { status: 'ready', database: 'up', realtime: 'up' }]);
    const pid = await pgPid();
    s.child.kill('SIGTERM');
    assert.equal(await exited(s.child), 0);
    assert.equal(alive(pid), false, 'embedded PostgreSQL stopped');
  });

  it('a second start reuses the data', async () => {
    const s = await start({ JWT_SECRET: TEST_JWT_SECRET });
    const service = projectKeys(TEST_JWT_SECRET).serviceRoleKey;
    const res = await fetch(`http://127.0.0.1:${port}/rest/v1/sessions?select=title`, { headers: { apikey: service } });
    assert.deepEqual(await res.json(), [{ title: 'kept' }]);
    s.child.kill('SIGTERM');
    assert.equal(await exited(s.child), 0);
  });

  it('after kill -9 the next start takes over the PostgreSQL it left behind', async () => {
    const s = await start({ JWT_SECRET: TEST_JWT_SECRET });
    const orphan = await pgPid();
    s.child.kill('SIGKILL');
    await exited(s.child);
    assert.equal(alive(orphan), true, 'PostgreSQL outlives a SIGKILLed server');
    const again = await start({ JWT_SECRET: TEST_JWT_SECRET });
    const service = projectKeys(TEST_JWT_SECRET).serviceRoleKey;
    const res = await fetch(`http://127.0.0.1:${port}/rest/v1/sessions?select=title`, { headers: { apikey: service } });
    assert.deepEqual(await res.json(), [{ title: 'kept' }]);
    again.child.kill('SIGTERM');
    assert.equal(await exited(again.child), 0);
  });

  it('warns loudly when JWT_SECRET is not set, and then prints the development service_role key, as supabase start does', async () => {
    const s = await start({ JWT_SECRET: '' });
    assert.match(s.output(), /WARNING: JWT_SECRET is not set\. Using the public development secret/);
    assert.equal(keyFrom(s.output(), 'service_role key'), projectKeys(DEV_JWT_SECRET).serviceRoleKey);
    s.child.kill('SIGTERM');
    await exited(s.child);
  });

  it('refuses a short JWT_SECRET with a clear message', async () => {
    const child = spawn(process.execPath, [main], { env: { ...process.env, DATA_DIR: dataDir, JWT_SECRET: 'short' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    assert.equal(await exited(child), 1);
    assert.match(err, /JWT_SECRET must be at least 32 characters/);
  });
});

describe('mobvibe-realtime CLI', () => {
  it('token --user mints a user access token signed with JWT_SECRET', async () => {
    const user = '6f1c2b1e-8d2a-4c3b-9a1e-0b2c3d4e5f60';
    const child = spawn(process.execPath, [cli, 'token', '--user', user, '--expires-in', '120'], {
      env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    assert.equal(await exited(child), 0);
    const claims = verifyJwt(out.trim(), TEST_JWT_SECRET);
    assert.equal(claims.sub, user);
    assert.equal(claims.role, 'authenticated');
    assert.ok(claims.exp - Date.now() / 1000 <= 120);
  });

  it('keys prints the anon key, and the service_role key only when asked with --service-role', async () => {
    const run = async (args: string[]) => {
      const child = spawn(process.execPath, [cli, 'keys', ...args], { env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      assert.equal(await exited(child), 0);
      return out;
    };
    const keys = projectKeys(TEST_JWT_SECRET);
    assert.equal(await run([]), `anon key: ${keys.anonKey}\n`);
    assert.equal(await run(['--service-role']), `anon key: ${keys.anonKey}\nservice_role key: ${keys.serviceRoleKey}\n`);
  });

  it('rejects a --user that is not a uuid, with usage', async () => {
    const child = spawn(process.execPath, [cli, 'token', '--user', 'bob'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    assert.equal(await exited(child), 2);
    assert.match(err, /--user must be a uuid/);
  });
});
