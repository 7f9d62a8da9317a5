import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';
import { JsonInputError, parseJson } from './json.js';

export interface BodyLimits {
  maxBytes: number;
  maxDepth: number;
}

/**
 * Reads a request body, refusing more than `maxBytes` with a 413 before buffering it all. A client that goes
 * away mid-body is a client fault (400 `request_aborted`), not a database outage.
 */
export async function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge(size, maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'request_aborted', 'the request body was not received completely: the client closed the connection', { cause: err });
  }
  if (req.readableAborted || (req.complete === false && req.destroyed)) {
    throw new ApiError(400, 'request_aborted', 'the request body was not received completely: the client closed the connection');
  }
  return Buffer.concat(chunks);
}

/** Reads and parses a JSON request body (size and nesting bounded, see {@link readRawBody} and http/json.ts). */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const text = (await readRawBody(req, limits.maxBytes)).toString('utf8');
  try {
    return parseJson(text, limits.maxDepth);
  } catch (err) {
    if (!(err instanceof JsonInputError)) throw err;
    throw new ApiError(400, 'PGRST102', err.depth === undefined ? `Empty or invalid json: ${err.message}` : `the request body is ${err.message}`, {
      hint: err.depth === undefined ? null : 'flatten the document',
    });
  }
}

function tooLarge(size: number, max: number): ApiError {
  return new ApiError(413, 'payload_too_large', `request body of ${size}+ bytes exceeds the limit of ${max} bytes`, {
    hint: 'send fewer rows per request',
  });
}
