#!/usr/bin/env -S node --max-semi-space-size=8
import { demoAppLink, ensureDemoSession } from './demo.js';
import { ConfigError } from './errors.js';
import { installLastResort } from './lastResort.js';
import { startServer } from './server.js';

/** `npm start`: runs the server until SIGTERM/SIGINT, printing the API URL and keys as `supabase start` does. */
async function main(): Promise<void> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(`MobVibe Realtime needs Node.js 22 or later (24 LTS recommended); this is ${process.version}. Run it with \`npm start\`, which uses the project's pinned Node 24.\n`);
    process.exit(1);
  }
  const server = await startServer();
  installLastResort(server.logger);
  const { url, keys, databaseUrl } = server;
  const demo = demoEnabled(server.config.usingDevSecret);
  if (demo) await ensureDemoSession(server.db.pool);
  const dbShown = server.config.databaseUrl ? databaseUrl.replace(/:[^:@/]+@/, ':****@') : `${databaseUrl.replace(/:[^:@/]+@/, ':****@')} (embedded)`;
  process.stdout.write(
    [
      '',
      'MobVibe Realtime is running.',
      '',
      `         API URL: ${url}`,
      `        REST URL: ${url}/rest/v1`,
      `    Realtime URL: ${url.replace(/^http/, 'ws')}/realtime/v1/websocket`,
      `          DB URL: ${dbShown}`,
      `        anon key: ${keys.anonKey}`,
      // With a real secret the service_role key never reaches a terminal or a log (it bypasses every policy).
      `service_role key: ${server.config.usingDevSecret ? keys.serviceRoleKey : 'not printed (JWT_SECRET is set); print it with: npx mobvibe-realtime keys --service-role'}`,
      '',
      'Mint a user token:  npx mobvibe-realtime token --user <uuid>',
      '',
      ...(demo
        ? [
            'Open the app, signed in as the demo user (then run `npm run demo` in another terminal):',
            `  ${demoAppLink(url, keys.anonKey, server.config.jwtSecret)}`,
            '',
          ]
        : []),
    ].join('\n') + '\n',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = server.config.shutdownGraceMs;
    server.logger.info({ signal, graceMs }, 'shutting down: draining sockets and requests');
    // Whatever happens, the process is gone shortly after the grace period.
    setTimeout(() => {
      server.logger.error({ graceMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, graceMs + 5_000).unref();
    server.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * The demo user, its session and its sign-in link are for local development: on by default only with the
 * built-in development secret; MOBVIBE_DEMO=1 or 0 decides otherwise.
 */
function demoEnabled(usingDevSecret: boolean): boolean {
  const flag = process.env.MOBVIBE_DEMO;
  return flag === undefined || flag === '' ? usingDevSecret : flag === '1' || flag === 'true';
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`\nmobvibe-realtime: ${err.message}\n\n`);
  else process.stderr.write(`\nmobvibe-realtime failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
