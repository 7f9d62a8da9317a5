import http from 'node:http';
import https from 'node:https';

export interface NodeFetchOptions {
  /** Agent for `http:` URLs (default: keep-alive, at most 16 sockets per host). */
  httpAgent?: http.Agent;
  /** Agent for `https:` URLs (default: keep-alive, at most 16 sockets per host; pass one with `ca` for a private CA). */
  httpsAgent?: https.Agent;
}

/**
 * A `fetch` for Node built on node:http and node:https with keep-alive agents. The emitter's client uses it by
 * default: per request it costs about 0.4 ms less CPU than Node 20's global fetch (undici and web streams), which
 * a busy worker pays on every batch (docs/backend/PERFORMANCE.md).
 *
 * It does what supabase-js's PostgREST requests need, and refuses the rest with a TypeError:
 * - a URL or URL string (not a Request); any method; headers as a Headers object, a record or pairs; a body that is a string, a Uint8Array or an
 *   ArrayBuffer (no streams, no FormData);
 * - `signal`: an aborted request rejects with the signal's reason (an AbortError or a TimeoutError), like fetch;
 * - a network failure rejects with `TypeError('fetch failed')` whose `cause` is the socket error, like fetch;
 * - the answer is read whole into a standard `Response`. Redirects are not followed (the 3xx answer is returned)
 *   and no compression is asked for, so bodies arrive as sent.
 */
export function nodeFetch(options: NodeFetchOptions = {}): typeof fetch {
  const agents = {
    'http:': options.httpAgent ?? new http.Agent({ keepAlive: true, maxSockets: 16 }),
    'https:': options.httpsAgent ?? new https.Agent({ keepAlive: true, maxSockets: 16 }),
  };
  return (input, init = {}) => {
    if (input instanceof Request) return Promise.reject(new TypeError('nodeFetch takes a URL or a URL string, not a Request'));
    const url = new URL(String(input));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.reject(new TypeError(`nodeFetch supports http: and https: URLs, got ${url.protocol}`));
    }
    let body: Buffer | undefined;
    try {
      body = bodyBytes(init.body);
    } catch (err) {
      return Promise.reject(err);
    }
    return send(url, init, body, url.protocol === 'https:' ? https.request : http.request, agents[url.protocol]);
  };
}

function send(url: URL, init: RequestInit, body: Buffer | undefined, request: typeof http.request, agent: http.Agent): Promise<Response> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<Response>((resolve, reject) => {
    const headers = headerRecord(init.headers);
    if (body) headers['content-length'] = String(body.length);
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(toResponse(res, Buffer.concat(chunks)));
      });
      res.on('error', fail);
    });
    function fail(err: Error): void {
      signal?.removeEventListener('abort', onAbort);
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    }
    function onAbort(): void {
      req.destroy(); // the 'error' that follows rejects with the signal's reason
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', fail);
    req.end(body);
  });
}

function headerRecord(headers: HeadersInit | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers) new Headers(headers).forEach((value, name) => (record[name] = value));
  return record;
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError(`nodeFetch sends a string, Uint8Array or ArrayBuffer body, got ${Object.prototype.toString.call(body)}`);
}

/** 204, 205 and 304 answers have no body, and `new Response` refuses one for them. */
const NO_BODY = new Set([101, 204, 205, 304]);

function toResponse(res: http.IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const status = res.statusCode ?? 0;
  // A Buffer is a Uint8Array, which Response takes; the DOM typings only want an ArrayBuffer-backed one.
  return new Response(NO_BODY.has(status) ? null : (body as unknown as BodyInit), { status, statusText: res.statusMessage ?? '', headers });
}
