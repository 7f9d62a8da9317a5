import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, DEFAULT_BACKOFF } from '@mobvibe/realtime-client';

describe('backoffDelay (full jitter)', () => {
  it('is 0 with random 0 and just under the ceiling with random ~1', () => {
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0), 0);
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999999), 999);
    assert.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999999), 7999);
  });

  it('doubles the ceiling per attempt from about 1 s and caps it at 30 s', () => {
    const ceilings = Array.from({ length: 8 }, (_, a) => backoffDelay(a, DEFAULT_BACKOFF, () => 0.9999999) + 1);
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(backoffDelay(1000, DEFAULT_BACKOFF, () => 0.9999999) + 1, 30000, 'huge attempt numbers stay capped');
  });

  it('spreads delays uniformly across [0, ceiling)', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, DEFAULT_BACKOFF, random));
    assert.ok(delays.every((d) => d >= 0 && d < 16000));
    const low = delays.filter((d) => d < 8000).length;
    assert.ok(low > 850 && low < 1150, `about half below the midpoint, got ${low}`);
  });
});
