// What Realtime needs of an external PostgreSQL (DATABASE_URL) to read changes from the WAL: wal_level=logical
// and a role allowed to replicate. Without either the server process stops at start, before touching the
// schema, with a message that says what to set.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { EmbeddedPostgres, createLogger } from '@mobvibe/realtime-server';
import { createTestDatabase, freePort, TEST_JWT_SECRET } from '@mobvibe/testkit';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Runs the server against `databaseUrl`; resolves with its exit code and output (killed after 60 s). */
async function run(databaseUrl: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(await freePort()), JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out };
}

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ t: string }>(`select table_name as t from information_schema.tables where table_schema = 'public'`);
    return rows.map((r) => r.t);
  } finally {
    await c.end();
  }
}

describe('DATABASE_URL without what WAL capture needs', () => {
  it('wal_level=replica: exits 1, says to set wal_level=logical and restart, and leaves the database untouched', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-replica-'));
    await fs.chmod(dataDir, 0o755);
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const embedded = new EmbeddedPostgres({ dataDir, port: await freePort(), logger: createLogger('silent'), settings: { wal_level: 'replica' } });
    const url = await embedded.start();
    cleanups.push(() => embedded.stop());
    const { code, out } = await run(url);
    assert.equal(code, 1, out);
    assert.match(out, /mobvibe-realtime: PostgreSQL runs with wal_level=replica; Realtime reads changes from the WAL and needs wal_level=logical/);
    assert.match(out, /ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL/);
    assert.deepEqual(await tables(url), []);
  });

  it('a role without REPLICATION: exits 1 and names the role and the ALTER ROLE that fixes it', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const role = `mv_norepl_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(`create role ${role} login password '${password}' nosuperuser noreplication`);
      await admin.query(`grant all on database "${db.name}" to ${role}`);
    } finally {
      await admin.end();
    }
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`drop owned by ${role}; drop role ${role}`).finally(() => c.end());
    });
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const { code, out } = await run(url.toString());
    assert.equal(code, 1, out);
    assert.match(out, new RegExp(`mobvibe-realtime: role ${role} may not start logical replication; .*ALTER ROLE ${role} WITH REPLICATION`));
    assert.deepEqual(await tables(db.url), []);
  });
});
