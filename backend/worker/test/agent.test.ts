import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@mobvibe/testkit';
import { AgentRunner, DEMO_STEPS, EventValidationError, type SessionEvent } from '@mobvibe/worker';
import { emitterFor, storedRows } from './support/helpers.js';

describe('AgentRunner', () => {
  let t: TestServer;
  const user = randomUUID();

  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('run() emits the scripted steps in order, each stored before the next', async () => {
    const session = await t.createSession(user);
    const runner = new AgentRunner(emitterFor(t));

    const records = await runner.run(session, DEMO_STEPS);

    assert.deepEqual(records.map((r) => r.seq), DEMO_STEPS.map((_, i) => i + 1));
    assert.deepEqual(records.map((r) => ({ type: r.event_type, data: r.payload })), DEMO_STEPS);
    assert.deepEqual((await storedRows(t.sql, session)).map((r) => r.id), records.map((r) => r.id));
  });

  it('run() stops at the first bad step and rethrows; the steps before it stay stored', async () => {
    const session = await t.createSession(user);
    const steps = [DEMO_STEPS[0]!, { type: 'preview_ready', data: { url: 'not a url', qrCode: '' } }, DEMO_STEPS[5]!] as SessionEvent[];

    await assert.rejects(new AgentRunner(emitterFor(t)).run(session, steps), (err: unknown) => {
      assert.ok(err instanceof EventValidationError);
      assert.deepEqual(err.issues.map((i) => i.field), ['data.url']);
      return true;
    });
    assert.deepEqual((await storedRows(t.sql, session)).map((r) => r.event_type), ['thinking']);
  });
});
