// React bindings: one shared service from context, state driven by events, no reconnect logic in components.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createElement, type ReactElement } from 'react';
import TestRenderer, { act } from 'react-test-renderer';
import { RealtimeService, type ConnectionState } from '@mobvibe/realtime-client';
import { RealtimeProvider, useConnectionState, useSessionEvents, type SessionEvents } from '@mobvibe/realtime-client/react';
import { FakeClock, FakeSupabase, record, settle } from './fakes.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function mount(service: RealtimeService, child: ReactElement) {
  let renderer!: TestRenderer.ReactTestRenderer;
  act(() => {
    renderer = TestRenderer.create(createElement(RealtimeProvider, { service }, child));
  });
  return renderer;
}

describe('React bindings', () => {
  it('useSessionEvents renders history, live events and state; loadOlder prepends; unmount unsubscribes', async () => {
    const clock = new FakeClock();
    const sb = new FakeSupabase();
    const service = new RealtimeService({ supabase: sb as never, clock, random: () => 0.5, historyLimit: 3 });
    const id = randomUUID();
    sb.rows = [1, 2, 3, 4, 5].map((s) => record(id, s));
    let latest!: SessionEvents;
    let renders = 0;
    const Probe = () => {
      latest = useSessionEvents(id);
      renders++;
      return null;
    };
    const r = mount(service, createElement(Probe));
    await act(async () => settle());
    assert.equal(latest.state.status, 'connecting');
    await act(async () => {
      sb.current(id)!.status('SUBSCRIBED');
      await settle();
    });
    assert.equal(latest.state.status, 'live');
    assert.deepEqual(latest.events.map((e) => e.seq), [3, 4, 5], 'the latest page first');
    await act(async () => {
      sb.current(id)!.insert(record(id, 6));
    });
    assert.deepEqual(latest.events.map((e) => e.seq), [3, 4, 5, 6]);
    let added = 0;
    await act(async () => {
      added = await latest.loadOlder();
    });
    assert.equal(added, 2);
    assert.deepEqual(latest.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
    const rendersBefore = renders;
    await clock.advance(60_000);
    assert.equal(renders, rendersBefore, 'nothing re-renders while nothing changes (no polling)');
    act(() => r.unmount());
    await settle();
    assert.equal(sb.current(id), undefined, 'unmount removed the channel');
  });

  it('useConnectionState follows the service state events', async () => {
    const clock = new FakeClock();
    const sb = new FakeSupabase();
    const service = new RealtimeService({ supabase: sb as never, clock, random: () => 0.5 });
    const seen: ConnectionState[] = [];
    const Probe = () => {
      seen.push(useConnectionState());
      return null;
    };
    mount(service, createElement(Probe));
    const id = randomUUID();
    await act(async () => {
      service.subscribe(id, () => undefined, { afterSeq: 0 });
      await settle();
    });
    await act(async () => {
      sb.current(id)!.status('SUBSCRIBED');
      await settle();
    });
    await act(async () => {
      sb.current(id)!.status('CHANNEL_ERROR');
      await settle();
    });
    const statuses = seen.map((s) => s.status).filter((s, i, a) => a[i - 1] !== s);
    assert.deepEqual(statuses, ['closed', 'connecting', 'live', 'reconnecting']);
  });

  it('throws a message that says what to do without a provider', () => {
    const Probe = () => {
      useConnectionState();
      return null;
    };
    const original = console.error;
    console.error = () => undefined;
    try {
      assert.throws(() => act(() => void TestRenderer.create(createElement(Probe))), /Wrap the tree in <RealtimeProvider/);
    } finally {
      console.error = original;
    }
  });
});
