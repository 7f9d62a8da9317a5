import type { ServerResponse } from 'node:http';
import type { ApiError } from '../errors.js';

export type Headers = Record<string, string>;

export function sendText(res: ServerResponse, status: number, body: string | undefined, headers: Headers = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Headers = {}): void {
  sendText(res, status, JSON.stringify(value), headers);
}

export function sendError(res: ServerResponse, err: ApiError, headers: Headers = {}): void {
  const extra: Headers = { ...headers };
  if (err.status === 401) extra['www-authenticate'] = 'Bearer error="invalid_token"';
  if (err.status === 503) extra['retry-after'] = '1';
  sendJson(res, err.status, err.toJSON(), extra);
}
