import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
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
  if (err.retryAfter !== undefined || err.status === 503 || err.status === 429) extra['retry-after'] = String(err.retryAfter ?? 1);
  sendJson(res, err.status, err.toJSON(), extra);
}

/**
 * An answer written straight to a socket that has no ServerResponse (a refused upgrade, a request Node's parser
 * gave up on): a complete HTTP/1.1 response with a JSON body and Content-Length, then the connection ends.
 */
export function rawResponse(status: number, body: unknown): string {
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`
  );
}

/** Answers a socket without a ServerResponse (see rawResponse) and closes it. */
export function refuseSocket(socket: Duplex, status: number, body: unknown): void {
  if (socket.writable) socket.end(rawResponse(status, body));
  else socket.destroy();
}
