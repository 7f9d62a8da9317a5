import net from 'node:net';

/**
 * Faults scripted per connection, consumed one per accepted connection (a client opens a new connection for
 * the attempt after a failure, so each fault hits one attempt):
 *   'reset'        reset the connection at once: nothing reaches the server.
 *   'cut-response' forward the request, and reset the client's connection as soon as the server's answer
 *                  starts: the server has committed, the client never learns it (a lost response).
 *   'stall'        forward the request but hold the answer back, until the client gives up (its timeout).
 *   'bad-gateway'  answer 502 with an HTML body, without forwarding (what a load balancer in front of a dead
 *                  backend says; the only time the proxy answers in anyone's name).
 */
export type ScriptedFault = 'reset' | 'cut-response' | 'stall' | 'bad-gateway';

const BAD_GATEWAY =
  'HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 42\r\nconnection: close\r\n\r\n<html><body>502 Bad Gateway</body></html>\n';

/**
 * A TCP proxy on 127.0.0.1 that injects network faults between a client and a server on loopback.
 *
 * - `dropAll()` closes every proxied connection (FIN), `resetAll()` resets them (RST),
 * - `stall(ms)` stops forwarding in both directions for a while (a dead network that keeps sockets open),
 * - `refuse(on)` refuses new connections (server unreachable),
 * - `chaos({...})` does these at random, from a seeded generator, until `stopChaos()` or its time limit,
 * - `faults` scripts one fault per new connection (see {@link ScriptedFault}).
 * Only ever connects to `target` (a loopback port); everything stops by itself at `close()`.
 */
export class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private refusing = false;
  private stalledUntil = 0;
  private chaosTimer: ReturnType<typeof setTimeout> | undefined;
  readonly stats = { connections: 0, drops: 0, resets: 0, stalls: 0, refusals: 0 };
  /** Consumed one per accepted connection; with it empty, connections are forwarded both ways. */
  readonly faults: ScriptedFault[] = [];

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {
    if (!['127.0.0.1', '::1', 'localhost'].includes(targetHost)) throw new Error('FaultProxy targets loopback only');
  }

  /** Listens on 127.0.0.1 (port 0 = any), with room for thousands of clients connecting at once; resolves to the port. */
  async listen(port = 0): Promise<number> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen({ port, host: '127.0.0.1', backlog: 8192 }, () => resolve()));
    return (this.server.address() as net.AddressInfo).port;
  }

  get port(): number {
    return (this.server!.address() as net.AddressInfo).port;
  }

  /** http://127.0.0.1:<port>, to hand to a client as its server URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far (refused ones excluded). */
  get connections(): number {
    return this.stats.connections;
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      this.stats.refusals++;
      client.resetAndDestroy();
      return;
    }
    this.stats.connections++;
    const fault = this.faults.shift();
    client.on('error', () => undefined); // resets are the point here
    if (fault === 'reset') return void client.resetAndDestroy();
    if (fault === 'bad-gateway') return void client.once('data', () => client.end(BAD_GATEWAY));
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        const wait = this.stalledUntil - Date.now();
        if (wait <= 0) {
          to.write(chunk);
          return;
        }
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, wait);
      });
    forward(client, upstream);
    if (fault === 'cut-response') upstream.once('data', () => client.resetAndDestroy());
    else if (fault === 'stall') upstream.on('data', () => undefined);
    else forward(upstream, client);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  dropAll(): void {
    for (const { client, upstream } of this.pairs) {
      this.stats.drops++;
      client.end();
      upstream.end();
      client.destroySoon();
      upstream.destroySoon();
    }
  }

  resetAll(): void {
    for (const { client, upstream } of this.pairs) {
      this.stats.resets++;
      client.resetAndDestroy();
      upstream.destroy();
    }
  }

  stall(ms: number): void {
    this.stats.stalls++;
    this.stalledUntil = Math.max(this.stalledUntil, Date.now() + ms);
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  /**
   * Random faults every `everyMs` (±50 %) for at most `forMs`: drop, reset, stall (up to `maxStallMs`) or a
   * short refusal window. Deterministic for a given `seed`.
   */
  chaos(opts: { seed: number; everyMs: number; forMs: number; maxStallMs?: number }): void {
    let seed = opts.seed;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const deadline = Date.now() + opts.forMs;
    const tick = () => {
      if (Date.now() >= deadline) return this.stopChaos();
      const r = random();
      if (r < 0.3) this.dropAll();
      else if (r < 0.6) this.resetAll();
      else if (r < 0.85) this.stall(Math.floor(random() * (opts.maxStallMs ?? 3000)));
      else {
        this.refuse(true);
        setTimeout(() => this.refuse(false), Math.floor(random() * 1500)).unref();
      }
      this.chaosTimer = setTimeout(tick, opts.everyMs * (0.5 + random()));
    };
    this.chaosTimer = setTimeout(tick, opts.everyMs);
  }

  stopChaos(): void {
    if (this.chaosTimer) clearTimeout(this.chaosTimer);
    this.chaosTimer = undefined;
    this.refusing = false;
    this.stalledUntil = 0;
  }

  async close(): Promise<void> {
    this.stopChaos();
    this.resetAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
