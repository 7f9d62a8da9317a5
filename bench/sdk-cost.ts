// `node --import tsx bench/sdk-cost.ts`: the worker SDK's own CPU per emitted event, with group commit at the batch
// size scenario (b) sees (~77 events per request), for each fetch the EventEmitter can use. The answers come from a
// stand-in HTTP server in a child process that echoes stored keys at once, so only the emitter's side is measured.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { EventEmitter, createLogger, nodeFetch } from '@mobvibe/worker';

const BATCH = 77;
const ROUNDS = 1000;

function standIn(): void {
  let seq = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // The emitter calls POST /rest/v1/rpc/append_session_events with {events: [...]}; the function answers rows.
      const rows = (JSON.parse(Buffer.concat(chunks).toString()) as { events: Array<{ id: string; session_id: string }> }).events;
      const now = new Date().toISOString();
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-range': `0-${rows.length - 1}/*` });
      res.end(JSON.stringify(rows.map((r) => ({ id: r.id, session_id: r.session_id, seq: ++seq, created_at: now }))));
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
}

async function cpuPerEvent(url: string, fetchImpl: typeof fetch | undefined): Promise<number> {
  const emitter = new EventEmitter({
    supabaseUrl: url,
    serviceRoleKey: 'stand-in',
    logger: createLogger('silent'),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
    groupCommit: { maxDelayMs: 1, maxEvents: 1000, maxInFlight: 1 },
  });
  const sessions = Array.from({ length: 500 }, () => randomUUID());
  let next = 0;
  const round = () =>
    Promise.all(
      Array.from({ length: BATCH }, () =>
        emitter.emit(sessions[next++ % sessions.length]!, { type: 'terminal', data: { command: 'bench', output: String(performance.now()) } }),
      ),
    );
  for (let i = 0; i < 100; i++) await round();
  const before = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await round();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (ROUNDS * BATCH);
}

/** undici's current fetch (the npm package, newer than the one Node bundles) over one keep-alive Agent. */
function undici8Fetch(): typeof fetch {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  return ((input: string | URL, init?: RequestInit) => undiciFetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch;
}

if (process.argv[2] === 'stand-in') standIn();
else {
  const child = fork(new URL(import.meta.url).pathname, ['stand-in'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  const url = `http://127.0.0.1:${port}`;
  const fetches: Array<[string, typeof fetch | undefined]> = [
    ['nodeFetch (default)', undefined],
    [`global fetch (Node ${process.version}'s bundled undici)`, globalThis.fetch],
    ['undici 8 fetch, keep-alive Agent', undici8Fetch()],
    ['nodeFetch (explicit)', nodeFetch()],
  ];
  // Three times over, interleaved, so a slow spell of the machine does not favour one of them.
  for (let pass = 1; pass <= 3; pass++) {
    for (const [name, f] of fetches) console.log(`pass ${pass}: ${name}: ${(await cpuPerEvent(url, f)).toFixed(1)} µs CPU per event, ${BATCH} events per request`);
  }
  child.kill();
}
