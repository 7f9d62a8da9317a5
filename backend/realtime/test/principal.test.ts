// Who a budget is counted for (http/principal.ts): the client address, behind trusted proxies or not, IPv6 by /64.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { clientAddress, principalKey } from '../src/http/principal.js';

const req = (remoteAddress: string, forwarded?: string | string[]) =>
  ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('is the socket address without trusted proxies, whatever X-Forwarded-For says', () => {
    assert.equal(clientAddress(req('203.0.113.7', '198.51.100.1'), 0), '203.0.113.7');
    assert.equal(clientAddress(req('::ffff:203.0.113.7'), 0), '203.0.113.7', 'IPv4-mapped IPv6 counts as the IPv4 address');
  });

  it('with n trusted proxies, is the n-th entry from the right of X-Forwarded-For (each proxy appends what it saw)', () => {
    // client -> proxy A -> proxy B -> server: A appends the client's address, B appends A's: "client, A".
    assert.equal(clientAddress(req('10.0.0.2', '198.51.100.9, 10.0.0.1'), 2), '198.51.100.9');
    assert.equal(clientAddress(req('10.0.0.1', 'spoofed-by-client, 198.51.100.9'), 1), '198.51.100.9', 'what the client wrote further left is ignored');
    assert.equal(clientAddress(req('10.0.0.1', ['198.51.100.9', '10.0.0.5']), 1), '10.0.0.5', 'repeated headers are read as one list');
    assert.equal(clientAddress(req('10.0.0.1', 'not-an-ip'), 1), '10.0.0.1', 'a non-address falls back to the socket');
    assert.equal(clientAddress(req('10.0.0.1'), 1), '10.0.0.1', 'no header: the socket');
    assert.equal(clientAddress(req('10.0.0.1', '198.51.100.9'), 3), '10.0.0.1', 'fewer entries than trusted hops: the socket');
  });

  it('groups IPv6 addresses by their /64 prefix (one subscriber usually holds a whole /64)', () => {
    assert.equal(clientAddress(req('2001:db8:1:2:aaaa::1'), 0), '2001:db8:1:2::/64');
    assert.equal(clientAddress(req('2001:db8:1:2:bbbb:cccc:dddd:eeee'), 0), '2001:db8:1:2::/64');
    assert.equal(clientAddress(req('2001:0db8:0001:0003::1'), 0), '2001:db8:1:3::/64');
    assert.equal(clientAddress(req('::1'), 0), '0:0:0:0::/64');
    assert.equal(clientAddress(req('10.0.0.1', '2001:db8:1:2::9'), 1), '2001:db8:1:2::/64');
  });
});

describe('principalKey', () => {
  it('is the user for a user token, the address for anon, nobody for service_role', () => {
    const sub = '6F1C0B4E-1D2A-4C3B-9E8F-0A1B2C3D4E5F';
    assert.equal(principalKey({ role: 'authenticated', sub }, '203.0.113.7'), `user:${sub.toLowerCase()}`);
    assert.equal(principalKey({ role: 'anon' }, '203.0.113.7'), 'addr:203.0.113.7');
    assert.equal(principalKey({ role: 'service_role' }, '203.0.113.7'), undefined);
  });
});
