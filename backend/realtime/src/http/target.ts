/**
 * The path and query of an HTTP request target (RFC 9112 §3.2), derived without a parser that can throw.
 *
 * `new URL(req.url, base)` is not safe on hostile input: an absolute-form target with an invalid host
 * (`GET http://999.999.999.999/health`) throws, and a path starting with `//` is read as a host. Here the
 * target is taken apart by hand: origin-form (`/path?query`) is used as it is, absolute-form
 * (`scheme://authority/path?query`) loses its scheme and authority, and anything else is refused.
 */
export interface RequestTarget {
  /** The path as sent (still percent-encoded), always starting with `/`. */
  pathname: string;
  /** `?query` as sent, or '' when there is none. */
  search: string;
  /** The query, parsed (URLSearchParams never throws: bad escapes stay as they are). */
  searchParams: URLSearchParams;
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * Splits a request target into path and query; undefined when it is not origin-form or absolute-form
 * (asterisk-form `*`, authority-form `host:port`, or an empty target).
 *
 * @example
 * parseTarget('/rest/v1/sessions?select=id')   // { pathname: '/rest/v1/sessions', search: '?select=id', ... }
 * parseTarget('http://999.999.999.999/health') // { pathname: '/health', search: '', ... }
 * parseTarget('*')                              // undefined
 */
export function parseTarget(raw: string | undefined): RequestTarget | undefined {
  if (raw === undefined || raw === '') return undefined;
  let rest = raw;
  if (!rest.startsWith('/')) {
    const authority = ABSOLUTE_FORM.exec(rest);
    if (!authority) return undefined;
    rest = rest.slice(authority[0].length);
    if (rest === '' || rest.startsWith('?')) rest = `/${rest}`;
    if (!rest.startsWith('/')) return undefined; // a fragment right after the authority
  }
  const hash = rest.indexOf('#'); // clients never send one; drop it as a browser would
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const pathname = q < 0 ? rest : rest.slice(0, q);
  const search = q < 0 || q === rest.length - 1 ? '' : rest.slice(q);
  return { pathname, search, searchParams: new URLSearchParams(search) };
}

/** Percent-decodes one path segment (or several); undefined for a malformed escape instead of a URIError. */
export function decodePath(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
