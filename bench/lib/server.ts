import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { projectKeys } from '@mobvibe/realtime-server';
import { freePort } from '@mobvibe/testkit';

export { freePort };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_JWT_SECRET = 'bench-secret-for-mobvibe-realtime-at-least-32-chars';

export interface BenchServer {
  url: string;
  pid: number;
  anonKey: string;
  serviceKey: string;
  /** Superuser URL of the embedded PostgreSQL. */
  databaseUrl: string;
  sql: pg.Pool;
  stop(): Promise<void>;
}

/** The node flags `npm start` gives the server (package.json), so the bench measures what users run. */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const flags = /^exec node (.*?)\s*backend\/realtime\/dist\/main\.js$/.exec(pkg.scripts.start!);
  if (!flags) throw new Error(`package.json "start" is not "exec node [flags] backend/realtime/dist/main.js": ${pkg.scripts.start}`);
  return flags[1]!.split(' ').filter(Boolean);
}

/** Starts `npm start`'s entry point, with its node flags, over a fresh embedded PostgreSQL under os.tmpdir(). */
export async function startBenchServer(): Promise<BenchServer> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mobvibe-bench-'));
  await fs.chmod(dataDir, 0o755);
  const [port, pgPort] = [await freePort(), await freePort()];
  const profile = process.env.BENCH_SERVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SERVER_PROFILE}`] : [];
  const flags = process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? startFlags();
  const child: ChildProcess = spawn(process.execPath, [...flags, ...profile, path.join(root, 'backend/realtime/dist/main.js')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), PG_PORT: String(pgPort), JWT_SECRET: BENCH_JWT_SECRET, LOG_LEVEL: 'warn',
      // Every load generator connects from loopback, standing in for thousands of client addresses.
      MOBVIBE_RT_MAX_CONNECTIONS_PER_ADDRESS: '20000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 120_000; !out.includes('service_role key:'); await new Promise((r) => setTimeout(r, 50))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
  }
  const key = (label: string) => new RegExp(`${label}: (\\S+)`).exec(out)![1]!;
  const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
  const databaseUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/postgres`;
  const sql = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  sql.on('error', () => undefined); // connections end when the server stops PostgreSQL
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    anonKey: key('anon key'),
    serviceKey: projectKeys(BENCH_JWT_SECRET).serviceRoleKey, // not printed with a real JWT_SECRET
    databaseUrl,
    sql,
    // Once, however many ask (an interrupt and the run's own cleanup may both).
    stop() {
      return (stopped ??= (async () => {
        await sql.end();
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        await fs.rm(dataDir, { recursive: true, force: true });
      })());
    },
  };
}
