// The root pitfall: as root, PostgreSQL runs as "postgres", which must reach both the binaries and the data.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, EmbeddedPostgres, createLogger, shippedPostgresBinaries } from '@mobvibe/realtime-server';
import pg from 'pg';

const asRoot = process.getuid?.() === 0;
const logger = createLogger('silent');
let scratch: string;

before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-root-'));
  await fs.chmod(scratch, 0o755);
});
after(() => fs.rm(scratch, { recursive: true, force: true }));

describe('embedded PostgreSQL as root', { skip: !asRoot && 'needs root (CI runs as root)' }, () => {
  it('stops with a message saying what to do when DATA_DIR sits in a folder "postgres" cannot enter', async () => {
    const locked = path.join(scratch, 'root-only');
    await fs.mkdir(locked, { mode: 0o700 });
    const db = new EmbeddedPostgres({ dataDir: path.join(locked, 'data'), port: 1, logger });
    await assert.rejects(db.start(), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /cannot enter/);
      assert.match(err.message, /DATA_DIR=/);
      return true;
    });
  });

  it('uses the fallback data folder (how the default DATA_DIR copes) when DATA_DIR is unreachable', async () => {
    const locked = path.join(scratch, 'root-only-2');
    await fs.mkdir(locked, { mode: 0o700 });
    const fallbackDataDir = path.join(scratch, 'fallback-data');
    const port = 20000 + Math.floor(Math.random() * 20000);
    const db = new EmbeddedPostgres({ dataDir: path.join(locked, 'data'), port, logger, fallbackDataDir });
    const url = await db.start();
    try {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('select 1');
      await client.end();
      await fs.access(path.join(fallbackDataDir, 'postgres', 'PG_VERSION'));
      await assert.rejects(fs.access(path.join(locked, 'data')), 'nothing was written to the unreachable folder');
    } finally {
      await db.stop();
    }
  });

  it('stages the binaries when the checkout sits in a folder "postgres" cannot enter, and runs', async () => {
    const shipped = await shippedPostgresBinaries();
    const nativeDir = path.resolve(path.dirname(shipped.postgres), '..');
    const checkout = path.join(scratch, 'root-home');
    await fs.mkdir(checkout, { mode: 0o700 });
    await fs.cp(nativeDir, path.join(checkout, 'native'), { recursive: true, verbatimSymlinks: true });
    const binaries = {
      postgres: path.join(checkout, 'native', 'bin', 'postgres'),
      initdb: path.join(checkout, 'native', 'bin', 'initdb'),
      version: `${shipped.version}-test`,
    };
    const dataDir = path.join(scratch, 'data');
    const port = 20000 + Math.floor(Math.random() * 20000);
    const db = new EmbeddedPostgres({ dataDir, port, logger, binaries });
    const url = await db.start();
    try {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query('select current_setting($1) as v', ['server_version_num']);
      await client.end();
      assert.ok(Number(rows[0].v) >= 170000);
    } finally {
      await db.stop();
    }
  });
});
