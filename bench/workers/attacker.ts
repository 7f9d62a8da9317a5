// Bench worker: a hostile client doing its worst within what the anon key and one user token allow (scenario g).
// Driven over IPC by bench/run.ts: start → started, finish → result. Loopback only; stops by itself at `durationMs`.
//
// Everything it does is allowed to an app user, only more of it:
//  - joins the honest users' public session topics with the anon key and floods them with broadcasts, as fast as
//    it can (the server throttles it per sender: BroadcastRateLimitReached);
//  - tracks presence in those topics, re-tracking as fast as it can with large metas (presence budgets);
//  - churns joins and leaves on its own sockets (join budgets);
//  - as its own user, rewrites its own sessions with the longest titles the schema allows, 16 requests in flight,
//    and posts REST broadcasts into the honest topics.
import http from 'node:http';
import WebSocket from 'ws';

/**
 * The attacker's own address: another loopback address than the honest clients' (127.0.0.1), as an attacker on
 * the internet has, so per-address budgets tell them apart.
 */
const ATTACKER_ADDRESS = '127.0.0.2';
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** A request from the attacker's address; resolves with the status once the answer is read. */
function request(url: string, method: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, localAddress: ATTACKER_ADDRESS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Start {
  type: 'start';
  url: string;
  anonKey: string;
  userToken: string;
  userSessions: string[];
  /** Honest sessions whose topics it joins and floods. */
  victimSessions: string[];
  sockets: number;
  durationMs: number;
}

const counts: Record<string, number> = {};
const count = (key: string, n = 1) => void (counts[key] = (counts[key] ?? 0) + n);
const closes: Record<string, number> = {};
let stopping = false;
const sockets: WebSocket[] = [];

function open(url: string, key: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/realtime/v1/websocket?apikey=${encodeURIComponent(key)}&vsn=2.0.0`, { perMessageDeflate: false, localAddress: ATTACKER_ADDRESS });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.on('error', () => undefined);
    ws.on('close', (code) => void (closes[code] = (closes[code] ?? 0) + 1));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return count('binary frames received');
      const [, , , event, payload] = JSON.parse(data.toString()) as [unknown, unknown, string, string, { status?: string; response?: { reason?: string } }];
      if (event !== 'phx_reply' || payload.status !== 'error') return;
      count(`refused: ${(payload.response?.reason ?? 'error').split(':')[0]}`);
    });
    sockets.push(ws);
  });
}

let ref = 0;
const push = (ws: WebSocket, joinRef: string | null, topic: string, event: string, payload: unknown) => {
  if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 1 << 20) return false;
  ws.send(JSON.stringify([joinRef, String(++ref), topic, event, payload]));
  return true;
};

async function flood(m: Start): Promise<void> {
  const conns = await Promise.all(Array.from({ length: m.sockets }, () => open(m.url, m.anonKey)));
  // Each socket joins as many victim topics as a connection may (presence on, ack on: it wants to know).
  const joined: Array<{ ws: WebSocket; topic: string; joinRef: string }> = [];
  conns.forEach((ws, i) => {
    for (let k = 0; k < 90; k++) {
      const session = m.victimSessions[(i * 90 + k) % m.victimSessions.length]!;
      const topic = `realtime:session:${session}`;
      const joinRef = String(++ref);
      ws.send(JSON.stringify([joinRef, joinRef, topic, 'phx_join', { config: { broadcast: { ack: true, self: false }, presence: { key: `mallory-${i}-${k}`, enabled: true }, private: false } }]));
      joined.push({ ws, topic, joinRef });
    }
  });
  const big = 'x'.repeat(16 * 1024);
  const meta = { note: 'y'.repeat(700) };
  // Just under the per-connection message limit (100/s; past 200/s the server would close the socket): the most
  // a socket may send. Two of three frames are 16 KB broadcasts, one a presence re-track.
  let i = 0;
  await every(PACE_MS, () => {
    for (const ws of conns) {
      const mine = joined.filter((j) => j.ws === ws);
      const j = mine[i % mine.length]!;
      if (i % 3 === 2) {
        if (push(ws, j.joinRef, j.topic, 'presence', { type: 'presence', event: 'track', payload: { ...meta, n: i } })) count('presence tracks pushed');
      } else if (push(ws, j.joinRef, j.topic, 'broadcast', { type: 'broadcast', event: 'spam', payload: { big } })) count('broadcasts pushed');
    }
    i++;
  });
}

/** Resolves once the run is over. */
const sleepUntilStopped = () => every(50, () => undefined);

/** A frame every 11 ms per socket: ~90 per second. */
const PACE_MS = Number(process.env.BENCH_ATTACK_PACE_MS ?? 11);

/** Runs `fn` every `ms` until stopping. */
function every(ms: number, fn: () => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (stopping) {
        clearInterval(timer);
        resolve();
      } else fn();
    }, ms);
  });
}

/** One socket under the attacker's own user token: joins and leaves as fast as it may. */
async function churn(m: Start): Promise<void> {
  const ws = await open(m.url, m.anonKey);
  let n = 0;
  // ~90 joins and ~90 leaves per second: under both the join and the message limit of a connection.
  await every(PACE_MS, () => {
    const topic = `realtime:churn-${n++ % 200}`;
    const joinRef = String(++ref);
    if (push(ws, joinRef, topic, 'phx_join', { config: { presence: { enabled: false } }, access_token: m.userToken })) count('joins pushed');
    push(ws, joinRef, topic, 'phx_leave', {});
  });
}

/** The attacker's own sessions, rewritten with the longest allowed titles; and REST broadcasts into victim topics. */
async function rest(m: Start): Promise<void> {
  const headers = { apikey: m.anonKey, authorization: `Bearer ${m.userToken}`, 'content-type': 'application/json', prefer: 'return=minimal' };
  const title = 't'.repeat(1000);
  let n = 0;
  // BENCH_ATTACK_REST=patch or =broadcast keeps one of the two (both by default).
  const only = process.env.BENCH_ATTACK_REST;
  const worker = async () => {
    while (!stopping) {
      const k = only === 'patch' ? 2 * n++ : only === 'broadcast' ? 2 * n++ + 1 : n++;
      try {
        const status =
          k % 2 === 0
            ? await request(`${m.url}/rest/v1/sessions?user_id=not.is.null`, 'PATCH', headers, JSON.stringify({ title: `${title.slice(0, 990)}${k}` }))
            : await request(
                `${m.url}/realtime/v1/api/broadcast`,
                'POST',
                headers,
                JSON.stringify({ messages: m.victimSessions.slice(0, 20).map((s) => ({ topic: `session:${s}`, event: 'spam', payload: { k } })) }),
              );
        count(`REST ${k % 2 === 0 ? 'PATCH' : 'broadcast'} ${status}`);
      } catch {
        count('REST failed');
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

process.on('message', async (msg: { type: string } & Partial<Start>) => {
  if (msg.type === 'start') {
    const m = msg as Start;
    const timer = setTimeout(() => (stopping = true), m.durationMs);
    process.send!({ type: 'started' });
    // BENCH_ATTACK=flood,churn,rest picks the parts (all by default), to see what each costs the honest users.
    const parts = (process.env.BENCH_ATTACK ?? 'flood,churn,rest').split(',');
    // `none` does nothing: a control run, to see what running after (b) on the same server costs by itself.
    const all = { flood, churn, rest, none: () => sleepUntilStopped() } as Record<string, (m: Start) => Promise<void>>;
    await Promise.all(parts.map((p) => all[p]!(m))).catch((err: unknown) => count(`attacker failed: ${String(err)}`));
    clearTimeout(timer);
  } else if (msg.type === 'finish') {
    stopping = true;
    for (const ws of sockets) ws.terminate();
    const cpu = process.cpuUsage();
    counts[`attacker's own CPU ms`] = Math.round((cpu.user + cpu.system) / 1000);
    process.send!({ type: 'result', counts, closes }, () => process.exit(0));
  }
});
