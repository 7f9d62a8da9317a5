// A throwaway server with its embedded PostgreSQL under the temp folder, for the cost scripts
// (bench/trigger-cost.ts, bench/insert-cost.ts). `close()` stops it and removes its data.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@mobvibe/testkit';
import { createLogger, startServer } from '@mobvibe/realtime-server';

export interface ScratchServer {
  databaseUrl: string;
  close(): Promise<void>;
}

export async function startScratchServer(): Promise<ScratchServer> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-scratch-'));
  await fs.chmod(dataDir, 0o755); // reachable by the postgres user when run as root
  const server = await startServer({
    config: { port: 0, dataDir, pgPort: await freePort(), jwtSecret: 'x'.repeat(40), usingDevSecret: false },
    logger: createLogger('silent'),
  });
  return {
    databaseUrl: server.databaseUrl,
    close: async () => {
      await server.close().catch(() => undefined);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
