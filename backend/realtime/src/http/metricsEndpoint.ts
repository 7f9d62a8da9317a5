/**
 * `GET /metrics`: the Prometheus scrape, behind the access chosen by `MOBVIBE_METRICS` (config.ts MetricsAccess).
 * Refusals are JSON errors that name the setting; with `off` the path does not exist (404).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsAccess } from '../config.js';
import { ApiError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Handler } from './router.js';

/** Headers a proxy adds: with any of them, a loopback peer may be relaying someone from elsewhere. */
const PROXY_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'];

const isLoopback = (address: string | undefined) =>
  address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Throws the refusal for a request `access` does not let in. */
export function checkMetricsAccess(req: IncomingMessage, access: MetricsAccess): void {
  if (access.mode === 'off') {
    throw new ApiError(404, 'not_found', 'no route for GET /metrics', { hint: 'metrics are off (MOBVIBE_METRICS=off)' });
  }
  if (access.mode === 'loopback') {
    if (!isLoopback(req.socket.remoteAddress) || PROXY_HEADERS.some((h) => req.headers[h] !== undefined)) {
      throw new ApiError(403, 'metrics_forbidden', 'metrics are served to clients on this machine only, not through a proxy', {
        hint: 'scrape from this machine, or set MOBVIBE_METRICS=bearer and MOBVIBE_METRICS_TOKEN to scrape from elsewhere',
      });
    }
    return;
  }
  if (!bearerMatches(req, access.token)) {
    throw new ApiError(401, 'metrics_unauthorized', 'metrics need Authorization: Bearer <MOBVIBE_METRICS_TOKEN>', {
      hint: 'send the token the server was started with in MOBVIBE_METRICS_TOKEN',
    });
  }
}

export function metricsEndpoint(metrics: Metrics, access: MetricsAccess): Handler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    checkMetricsAccess(req, access);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new ApiError(405, 'method_not_allowed', `${req.method} /metrics is not supported`, { hint: 'scrape with GET' });
    }
    const { contentType, body } = await metrics.scrape();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
