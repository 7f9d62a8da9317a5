/**
 * A loopback TCP proxy between an EventEmitter and the real test server, to cause the network failures a
 * worker meets in production. It never answers in the server's name: it forwards bytes or breaks the
 * connection (the one exception, 'bad-gateway', is what a load balancer in front of a dead backend says).
 *
 * Drive it with `faults`, a queue consumed one per accepted connection. A client opens a new connection for
 * the attempt after a failure, because a broken connection is not reused, so each fault hits one attempt:
 *   'reset'        reset the connection at once: nothing reaches the server.
 *   'cut-response' forward the request, and reset the client's connection as soon as the server's answer
 *                  starts: the server has committed, the client never learns it (a lost response).
 *   'stall'        forward the request but hold the answer back, until the client gives up (its timeout).
 *   'bad-gateway'  answer 502 with an HTML body, without forwarding.
 * With the queue empty, connections are forwarded both ways. `connections` counts accepted connections.
 * Everything listens on 127.0.0.1, port 0.
 */
import net from 'node:net';

export type Fault = 'reset' | 'cut-response' | 'stall' | 'bad-gateway';

export interface FaultProxy {
  url: string;
  faults: Fault[];
  readonly connections: number;
  close(): Promise<void>;
}

const BAD_GATEWAY =
  'HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 42\r\nconnection: close\r\n\r\n<html><body>502 Bad Gateway</body></html>\n';

export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => undefined); // resets are the point here
    s.on('close', () => sockets.delete(s));
    return s;
  };
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    track(client);
    const fault = state.faults.shift();
    if (fault === 'reset') return void client.resetAndDestroy();
    if (fault === 'bad-gateway') return void client.once('data', () => client.end(BAD_GATEWAY));
    const upstream = track(net.connect(Number(port), hostname));
    client.pipe(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (fault === 'cut-response') upstream.once('data', () => client.resetAndDestroy());
    else if (fault === 'stall') upstream.on('data', () => undefined);
    else upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  const state: FaultProxy = {
    url: `http://127.0.0.1:${address.port}`,
    faults,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return state;
}
