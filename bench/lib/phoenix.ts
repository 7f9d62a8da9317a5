import WebSocket from 'ws';

/**
 * A minimal Supabase Realtime (Phoenix vsn 2.0.0) subscriber for load generation: one WebSocket, one
 * postgres_changes INSERT binding per session topic, heartbeats. Far lighter than a supabase-js client per
 * connection, so one process can hold thousands. The protocol is the one supabase-js speaks (the tests prove
 * the server against supabase-js itself).
 */
export interface ChangeMessage {
  topic: string;
  record: Record<string, unknown>;
  commitTimestamp: string;
  receivedAt: number;
}

export class PhoenixSubscriber {
  private ws: WebSocket | undefined;
  private ref = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly pending = new Map<string, { resolve: (p: unknown) => void; reject: (e: Error) => void }>();
  onChange: (m: ChangeMessage) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;

  constructor(private readonly url: string, private readonly apikey: string, private readonly now: () => number) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.url}?apikey=${encodeURIComponent(this.apikey)}&vsn=2.0.0`, { perMessageDeflate: false });
      this.ws = ws;
      ws.once('open', () => {
        this.heartbeat = setInterval(() => this.send(null, 'phoenix', 'heartbeat', {}), 25_000);
        resolve();
      });
      ws.once('error', reject);
      ws.on('message', (data: Buffer, isBinary: boolean) => !isBinary && this.receive(data.toString()));
      ws.on('close', (code, reason) => {
        clearInterval(this.heartbeat);
        for (const p of this.pending.values()) p.reject(new Error(`closed ${code}`));
        this.pending.clear();
        this.onClose(code, reason.toString());
      });
    });
  }

  /** Joins `realtime:session:<id>` with the original plan's binding; resolves on the ok reply. */
  async joinSession(sessionId: string, accessToken: string): Promise<void> {
    const topic = `realtime:session:${sessionId}`;
    const config = {
      broadcast: { ack: false, self: false },
      presence: { key: '', enabled: false },
      postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'session_events', filter: `session_id=eq.${sessionId}` }],
      private: false,
    };
    const reply = (await this.request(topic, 'phx_join', { config, access_token: accessToken })) as { status: string; response: unknown };
    if (reply.status !== 'ok') throw new Error(`join refused: ${JSON.stringify(reply.response)}`);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.ws?.close();
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  terminate(): void {
    clearInterval(this.heartbeat);
    this.ws?.terminate();
  }

  private request(topic: string, event: string, payload: unknown): Promise<unknown> {
    const ref = String(++this.ref);
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.ws!.send(JSON.stringify([ref, ref, topic, event, payload]));
    });
  }

  private send(joinRef: string | null, topic: string, event: string, payload: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([joinRef, String(++this.ref), topic, event, payload]));
  }

  private receive(text: string): void {
    const receivedAt = this.now();
    const [, ref, topic, event, payload] = JSON.parse(text) as [string | null, string | null, string, string, Record<string, unknown>];
    if (event === 'postgres_changes') {
      const data = payload.data as { record: Record<string, unknown>; commit_timestamp: string };
      this.onChange({ topic, record: data.record, commitTimestamp: data.commit_timestamp, receivedAt });
    } else if (event === 'phx_reply' && ref && this.pending.has(ref)) {
      this.pending.get(ref)!.resolve(payload);
      this.pending.delete(ref);
    }
  }
}
