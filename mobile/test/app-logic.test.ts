// The app's pure logic, without a browser: what the indicator says for each state, how the web reads its
// configuration, how terminal output collapses, QR encoding, screen-reader labels and which events notify.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientSessionEvent } from '@mobvibe/events';
import { connectionLabel } from '../src/components/connectionLabel';
import { collapse, COLLAPSED_LINES } from '../src/components/EventItem/collapse';
import { describeEvent } from '../src/components/EventItem/describe';
import { qrPath } from '../src/components/qrPath';
import { noticeFor } from '../src/hooks/useEventNotices';
import { parseExtraConfig, parseHashConfig, sessionFromHash, sessionHash, storedForm } from '../src/services/configParse';

const event = (e: Pick<ClientSessionEvent, 'type' | 'data'>): ClientSessionEvent =>
  ({ id: 'e1', sessionId: 's1', seq: 1, createdAt: '2026-01-01T00:00:00Z', ...e }) as ClientSessionEvent;

describe('connectionLabel', () => {
  it('hides while live or with nothing open, and says every other state plainly', () => {
    assert.equal(connectionLabel({ status: 'live' }, undefined), undefined);
    assert.equal(connectionLabel({ status: 'closed' }, undefined), undefined);
    assert.equal(connectionLabel({ status: 'connecting' }, undefined), 'Connecting…');
    assert.equal(connectionLabel({ status: 'catching_up', behind: undefined }, undefined), 'Catching up…');
    assert.equal(connectionLabel({ status: 'catching_up', behind: 250 }, undefined), 'Catching up… (250 behind)');
    assert.equal(connectionLabel({ status: 'reconnecting', attempt: 3, nextRetryAt: 0 }, 4), 'Reconnecting in 4 s (attempt 3)');
    assert.equal(connectionLabel({ status: 'reconnecting', attempt: 3, nextRetryAt: 0 }, 0), 'Reconnecting… (attempt 3)');
    assert.equal(connectionLabel({ status: 'offline' }, undefined), 'Offline');
    const error = { status: 'error', reason: 'not allowed to read this session', code: 'join_refused', attempt: 2, nextRetryAt: 0 } as const;
    assert.equal(connectionLabel(error, 7), 'Error: not allowed to read this session (retrying in 7 s)');
    assert.equal(connectionLabel({ ...error, nextRetryAt: undefined }, undefined), 'Error: not allowed to read this session');
  });
});

describe('web configuration from the URL hash', () => {
  it('reads the token, the anon key and the session; the URL defaults to the page origin', () => {
    const r = parseHashConfig('#access_token=tok&anon_key=anon&session=abc', 'http://127.0.0.1:54321', null);
    assert.deepEqual(r, { ok: true, config: { supabaseUrl: 'http://127.0.0.1:54321', anonKey: 'anon', accessToken: 'tok', initialSessionId: 'abc' } });
  });

  it('falls back to what an earlier visit stored, the hash winning; a corrupt entry counts as none', () => {
    const stored = storedForm({ supabaseUrl: 'http://h:1/', anonKey: 'a', accessToken: 'old', initialSessionId: 'x' });
    assert.doesNotMatch(stored, /"x"/, 'the session opened is not stored');
    const r = parseHashConfig('#access_token=new', 'http://origin', stored);
    assert.deepEqual(r, { ok: true, config: { supabaseUrl: 'http://h:1', anonKey: 'a', accessToken: 'new', initialSessionId: undefined } });
    assert.deepEqual(parseHashConfig('', 'http://origin', '{not json'), { ok: false, missing: ['anonKey', 'accessToken'] });
  });

  it('session hashes round-trip; app.json extra is read on devices', () => {
    assert.equal(sessionFromHash(sessionHash('a b')), 'a b');
    assert.equal(sessionFromHash(''), undefined);
    assert.deepEqual(parseExtraConfig({ supabaseUrl: 'http://10.0.2.2:54321', supabaseAnonKey: 'a', accessToken: '' }), { ok: false, missing: ['accessToken'] });
  });
});

describe('terminal output', () => {
  it('keeps short output whole and collapses long output to its last lines', () => {
    assert.deepEqual(collapse('a\nb'), { lines: 2, hidden: 0, tail: 'a\nb' });
    const long = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n');
    const c = collapse(long);
    assert.equal(c.lines, 40);
    assert.equal(c.hidden, 40 - COLLAPSED_LINES);
    assert.ok(c.tail.endsWith('line 40') && c.tail.startsWith(`line ${40 - COLLAPSED_LINES + 1}`));
  });

  it('cuts one enormous line to its end', () => {
    const c = collapse('x'.repeat(10_000));
    assert.equal(c.hidden, 1);
    assert.ok(c.tail.length <= 2_001 && c.tail.startsWith('…'));
  });
});

describe('QR codes', () => {
  it('encodes a URL as one path inside a quiet zone, and refuses what no QR code can hold', () => {
    const qr = qrPath('https://preview.example.com/s/demo');
    assert.ok(qr && qr.extent >= 21 + 8 && qr.d.startsWith('M4 4'), 'the finder pattern starts at the quiet zone');
    assert.ok(qrPath('héllo ✓'), 'UTF-8 text encodes');
    assert.equal(qrPath('x'.repeat(5_000)), undefined);
  });
});

describe('events as announced', () => {
  it('labels each type for screen readers', () => {
    assert.equal(describeEvent(event({ type: 'thinking', data: { iteration: 2, toolsUsed: [] } })), 'Thinking, iteration 2, no tools used');
    assert.equal(describeEvent(event({ type: 'terminal', data: { command: 'ls', output: '' } })), 'Terminal command: ls');
    assert.equal(describeEvent(event({ type: 'error', data: { message: 'boom' } })), 'Error: boom');
  });

  it('raises notices for preview_ready, error and completion only', () => {
    assert.equal(noticeFor(event({ type: 'thinking', data: { iteration: 1, toolsUsed: [] } })), undefined);
    assert.equal(noticeFor(event({ type: 'file_change', data: { path: 'a', action: 'write' } })), undefined);
    assert.equal(noticeFor(event({ type: 'terminal', data: { command: 'a', output: '' } })), undefined);
    assert.deepEqual(noticeFor(event({ type: 'preview_ready', data: { url: 'https://p.example.com', qrCode: '' } })), {
      id: 'e1', kind: 'preview', title: 'Preview ready', message: 'https://p.example.com', url: 'https://p.example.com',
    });
    assert.equal(noticeFor(event({ type: 'error', data: { message: 'x', code: 'E1' } }))?.title, 'Error E1');
    assert.equal(noticeFor(event({ type: 'completion', data: { message: '' } }))?.message, 'The session finished.');
  });
});
