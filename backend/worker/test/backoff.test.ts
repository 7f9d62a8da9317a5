import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoff, DEFAULT_RETRY_POLICY } from '@mobvibe/worker';

const opts = { baseMs: 100, capMs: 5_000 };
const almostOne = () => 0.999_999;

describe('backoff (full jitter)', () => {
  it('is 0 when random() is 0, whatever the retry', () => {
    for (const retry of [0, 1, 5, 20, 100]) assert.equal(backoff(retry, opts, () => 0), 0);
  });

  it('doubles its ceiling per retry from baseMs', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((r) => backoff(r, opts, () => 0.5)),
      [50, 100, 200, 400, 800, 1600],
    );
    assert.deepEqual([0, 1, 2].map((r) => backoff(r, opts, almostOne)), [99, 199, 399]);
  });

  it('never exceeds capMs, even for huge retry counts', () => {
    for (const retry of [6, 10, 31, 64, 1_100]) {
      const high = backoff(retry, opts, almostOne);
      assert.ok(high <= opts.capMs && high >= opts.capMs - 1, `retry ${retry}: ${high}`);
      assert.equal(backoff(retry, opts, () => 0.5), 2_500);
    }
  });

  it('spreads over the whole range [0, ceiling) as random() does', () => {
    const picks = [0, 0.1, 0.25, 0.5, 0.75, 0.9].map((r) => backoff(3, opts, () => r));
    assert.deepEqual(picks, [0, 80, 200, 400, 600, 720]);
    for (let i = 0; i < 1_000; i++) {
      const d = backoff(4, opts, Math.random);
      assert.ok(Number.isInteger(d) && d >= 0 && d < 1_600, String(d));
    }
  });

  it('stays within [0, ceiling] when random() strays outside [0, 1) or retry is negative', () => {
    assert.equal(backoff(2, opts, () => 1.5), 400);
    assert.equal(backoff(2, opts, () => -1), 0);
    assert.equal(backoff(-3, opts, () => 0.5), 50);
  });

  it('has the documented defaults: base 100 ms, cap 5 s', () => {
    assert.equal(DEFAULT_RETRY_POLICY.baseMs, 100);
    assert.equal(DEFAULT_RETRY_POLICY.capMs, 5_000);
  });
});
