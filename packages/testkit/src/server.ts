import { randomUUID } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import WebSocket from 'ws';
import { createLogger, startServer, userToken, type ConfigOverrides, type RunningServer } from '@mobvibe/realtime-server';
import { createTestDatabase, type TestDatabase } from './database.js';

/** The JWT secret every test server uses. */
export const TEST_JWT_SECRET = 'test-secret-for-mobvibe-realtime-at-least-32-chars';

export interface TestServer {
  server: RunningServer;
  url: string;
  anonKey: string;
  serviceRoleKey: string;
  database: TestDatabase;
  /** A superuser connection to the test database, for plain-SQL setup and checks. */
  sql: pg.Pool;
  /** supabase-js as the worker uses it (service_role). */
  serviceClient(opts?: ClientOptions): SupabaseClient;
  /** supabase-js as the app uses it: anon key plus the user's access token. */
  userClient(userId: string, opts?: ClientOptions & { expiresIn?: number }): SupabaseClient;
  tokenFor(userId: string, expiresIn?: number): string;
  /** Inserts a session owned by `userId` and returns its id. */
  createSession(userId: string, title?: string): Promise<string>;
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Realtime protocol version: '2.0.0' (default) or '1.0.0'. */
  vsn?: '1.0.0' | '2.0.0';
  /**
   * The WebSocket realtime-js uses: the platform's own (Node 22+, default), or the `ws` package given as
   * `transport`, as code written for Node 20 does.
   */
  transport?: 'native' | 'ws';
}

/** supabase-js as server-side code uses it: the platform's WebSocket (or `ws`), no session persistence. */
export function supabaseClient(url: string, key: string, accessToken?: string, opts: ClientOptions = {}): SupabaseClient {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { ...(opts.transport === 'ws' ? { transport: WebSocket as never } : {}), ...(opts.vsn ? { vsn: opts.vsn } : {}) },
    ...(accessToken ? { accessToken: async () => accessToken } : {}),
  });
}

/** Starts a server on port 0 over a fresh database. Call `close()` in `after()`. */
export async function startTestServer(config: ConfigOverrides = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  const server = await startServer({
    config: { port: 0, databaseUrl: database.url, jwtSecret: TEST_JWT_SECRET, usingDevSecret: false, ...config },
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
  });
  const sql = new pg.Pool({ connectionString: database.url, max: 4 });
  const clients: SupabaseClient[] = [];
  const track = (c: SupabaseClient) => (clients.push(c), c);
  const tokenFor = (userId: string, expiresIn?: number) =>
    userToken(TEST_JWT_SECRET, userId, expiresIn === undefined ? {} : { expiresIn });
  return {
    server,
    url: server.url,
    anonKey: server.keys.anonKey,
    serviceRoleKey: server.keys.serviceRoleKey,
    database,
    sql,
    tokenFor,
    serviceClient: (opts) => track(supabaseClient(server.url, server.keys.serviceRoleKey, undefined, opts)),
    userClient: (userId, opts = {}) => track(supabaseClient(server.url, server.keys.anonKey, tokenFor(userId, opts.expiresIn), opts)),
    async createSession(userId, title = 'test session') {
      const id = randomUUID();
      await sql.query('insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, $4)', [id, userId, title, 'running']);
      return id;
    },
    async close() {
      await Promise.all(clients.map((c) => c.removeAllChannels().catch(() => undefined)));
      for (const c of clients) c.realtime.disconnect();
      await sql.end();
      await server.close();
      await database.drop();
    },
  };
}
