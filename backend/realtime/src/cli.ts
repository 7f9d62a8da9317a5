#!/usr/bin/env -S node --max-semi-space-size=8
import { parseArgs } from 'node:util';
import { isUuid } from '@mobvibe/events';
import { Roles, type Role } from './auth/jwt.js';
import { projectKeys, userToken } from './auth/keys.js';
import { loadConfig } from './config.js';

const USAGE = `usage:
  mobvibe-realtime start                          run the server (same as npm start)
  mobvibe-realtime token --user <uuid> [--expires-in <seconds>] [--role authenticated|anon|service_role]
                                                  print an access token signed with JWT_SECRET
  mobvibe-realtime keys [--service-role]          print the anon key (and the service_role key, which bypasses
                                                  Row Level Security: keep it out of apps and logs)`;

function fail(message: string): never {
  process.stderr.write(`mobvibe-realtime: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'start') {
    await import('./main.js');
    return;
  }
  const config = loadConfig();
  if (command === 'keys') {
    const { values } = parseArgs({ args: rest, options: { 'service-role': { type: 'boolean', default: false } } });
    const keys = projectKeys(config.jwtSecret);
    process.stdout.write(`anon key: ${keys.anonKey}\n${values['service-role'] ? `service_role key: ${keys.serviceRoleKey}\n` : ''}`);
    return;
  }
  if (command !== 'token') fail(command ? `unknown command "${command}"` : 'no command given');
  const { values } = parseArgs({ args: rest, options: { user: { type: 'string' }, 'expires-in': { type: 'string' }, role: { type: 'string' } } });
  if (!values.user || !isUuid(values.user)) fail('--user must be a uuid');
  const expiresIn = values['expires-in'] === undefined ? 3600 : Number(values['expires-in']);
  if (!Number.isInteger(expiresIn) || expiresIn <= 0) fail('--expires-in must be a positive number of seconds');
  const role = (values.role ?? 'authenticated') as Role;
  if (!Roles.includes(role)) fail(`--role must be one of ${Roles.join(', ')}`);
  if (config.usingDevSecret) process.stderr.write('warning: JWT_SECRET is not set; signing with the development secret\n');
  process.stdout.write(`${userToken(config.jwtSecret, values.user, { expiresIn, role })}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => fail((err as Error).message));
