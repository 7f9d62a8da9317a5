/**
 * Wraps a fetch so every request is aborted after `timeoutMs` (a per-attempt timeout). A caller's own
 * signal still works. Pass the result as `global.fetch` to createClient; postgrest-js then reports a timed-out
 * request as status 0 with a `TimeoutError`, which the emitter treats as transient.
 *
 * @example
 * createClient(url, key, { global: { fetch: timeoutFetch(fetch, 10_000) } });
 */
export function timeoutFetch(base: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return base(input, { ...init, signal });
  };
}
