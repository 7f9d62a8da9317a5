// A subscriber process of bench/latency.ts: one supabase-js client (its own WebSocket) per subscriber, each
// running the original plan's subscription code; records commit->receipt and insert->receipt per event.
import { createClient } from '@supabase/supabase-js';
import { wallNow, type SubscriberConfig, type SubscriberMessage } from './common.js';

const send = (m: SubscriberMessage) => process.send!(m);

function start(config: SubscriberConfig): void {
  const commitMs: number[] = [];
  const insertMs: number[] = [];
  const sentAt: number[] = [];
  const errors: string[] = [];
  let received = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  const clients = config.subscribers.map(({ sessionId, token }) =>
    createClient(config.url, config.anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { vsn: config.vsn },
      accessToken: async () => token,
    }),
  );
  const began = Date.now();
  let ready = 0;
  // Let supabase-js apply each client's token before its first join.
  setImmediate(() =>
    clients.forEach((client, i) => {
      const { sessionId } = config.subscribers[i]!;
      let lastSeq = 0;
      client
        .channel(`session:${sessionId}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }, (payload) => {
          const now = wallNow();
          const row = payload.new as { seq: number; payload: { output: string } };
          received++;
          if (row.seq === lastSeq) duplicates++;
          else if (row.seq !== lastSeq + 1) outOfOrder++;
          lastSeq = Math.max(lastSeq, row.seq);
          const sent = Number(row.payload.output);
          commitMs.push(now - Date.parse(payload.commit_timestamp));
          insertMs.push(now - sent);
          sentAt.push(sent);
        })
        .subscribe((status, err) => {
          if (status === 'SUBSCRIBED' && ++ready === clients.length) send({ type: 'ready', ms: Date.now() - began });
          else if (status !== 'SUBSCRIBED' && errors.length < 20) errors.push(`${status}: ${err?.message ?? ''}`);
        });
    }),
  );
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    send({ type: 'result', commitMs, insertMs, sentAt, received, outOfOrder, duplicates, errors });
    for (const c of clients) c.realtime.disconnect();
    setTimeout(() => process.exit(0), 200);
  });
}

process.once('message', (m: { type: string; config: SubscriberConfig }) => {
  if (m.type === 'start') start(m.config);
});
