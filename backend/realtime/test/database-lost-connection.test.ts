// A connection to PostgreSQL lost while a query runs on it fails that query, and nothing else: pg also emits the
// loss as an 'error' event on the client, which the pool listens for only while the client is idle (an uncaught
// exception otherwise). The connection is discarded and the next query gets a fresh one. Real PostgreSQL, a
// fault proxy on loopback in between.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, FaultProxy, type TestDatabase } from '@mobvibe/testkit';
import { Database } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';

describe('Database: a connection lost mid-query', () => {
  let database: TestDatabase;
  let proxy: FaultProxy;
  let db: Database;
  before(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    proxy = new FaultProxy(Number(url.port));
    await proxy.listen();
    url.port = String(proxy.port);
    db = new Database(url.toString(), createLogger('silent'), 2);
  });
  after(async () => {
    await db.close();
    await proxy.close();
    await database.drop();
  });

  it('fails that query only; the process raises nothing uncaught and the next query runs on a new connection', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const slow = db.simpleQuery('select pg_sleep(5)');
      await new Promise((r) => setTimeout(r, 300)); // the query is in PostgreSQL
      proxy.resetAll();
      await assert.rejects(slow, /ECONNRESET|Connection terminated|terminated unexpectedly/);
      await new Promise((r) => setImmediate(r));
      const [ok] = (await db.simpleQuery('select 1 as one; select 2 as two')) as { rows: { one: number }[] }[];
      assert.equal(ok!.rows[0]!.one, 1);
      assert.deepEqual(uncaught, [], 'nothing escaped');
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
