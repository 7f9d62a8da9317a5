// Helpers of the tests that speak HTTP by hand (raw sockets), where a client library would hide what is sent.

/** The payload of a chunked body (as far as it goes). */
export function dechunk(text: string): string {
  let out = '';
  for (let at = 0; at < text.length; ) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(text.slice(at, eol), 16);
    if (!(size > 0)) break;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return out;
}
