// A query whose caller stopped wanting it while it waited for a pooled connection does not run (QueryOptions.
// stillWanted): under a reconnect storm, the joins clients gave up on and left are not checked. Real PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@mobvibe/testkit';
import { Database, QueryAbandoned } from '../src/db/database.js';
import { createLogger } from '../src/logger.js';

describe('Database: a query no longer wanted once a connection is free', () => {
  let database: TestDatabase;
  let db: Database;
  before(async () => {
    database = await createTestDatabase();
    db = new Database(database.url, createLogger('silent'), 1); // one connection: the second caller has to wait
    await db.simpleQuery('create table abandoned_probe (n int)');
  });
  after(async () => {
    await db.close();
    await database.drop();
  });

  it('is not run, and says so, when its caller stopped wanting it while it waited', async () => {
    const held = await db.pool.connect();
    let wanted = true;
    const abandoned = db.simpleQuery('insert into abandoned_probe values (1)', { stillWanted: () => wanted });
    const kept = db.simpleQuery('insert into abandoned_probe values (2)', { stillWanted: () => true });
    await new Promise((r) => setImmediate(r));
    wanted = false; // e.g. the client timed out and left the channel while the pool was busy
    held.release();
    await assert.rejects(abandoned, QueryAbandoned);
    await kept;
    const rows = (await db.simpleQuery('select n from abandoned_probe order by n')) as { rows: { n: number }[] };
    assert.deepEqual(rows.rows.map((r) => r.n), [2], 'only the wanted insert ran');
    assert.equal(db.pool.idleCount + db.pool.waitingCount, 1, 'the abandoned caller gave its connection back');
  });
});
