import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';

/** Reads and parses a JSON request body, refusing more than `maxBytes` with a 413 before buffering it all. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, 'PGRST102', `Empty or invalid json: ${(err as Error).message}`);
  }
}

function tooLarge(size: number, max: number): ApiError {
  return new ApiError(413, 'payload_too_large', `request body of ${size}+ bytes exceeds the limit of ${max} bytes`, {
    hint: 'send fewer rows per request',
  });
}
