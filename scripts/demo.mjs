#!/usr/bin/env node
// `npm run demo`: streams a scripted coding session into the demo user's session, through the worker's
// AgentRunner and EventEmitter, so the app (the link `npm start` prints) shows it live.
//
// Talks to the running server like any worker would: SUPABASE_URL (default http://127.0.0.1:$PORT, PORT
// default 54321) with SUPABASE_SERVICE_ROLE_KEY (default: derived from JWT_SECRET, or the development
// secret, as `npm start` does). Options: --pace <n> (1 real time, 0.2 five times faster, 0 no pauses;
// or DEMO_PACE), --session <uuid> (another existing session instead of the demo one).
import { parseArgs } from 'node:util';
import {
  DEMO_SESSION_ID,
  DEMO_SESSION_TITLE,
  DEMO_USER_ID,
  DEV_JWT_SECRET,
  demoAppLink,
  projectKeys,
} from '@mobvibe/realtime-server';
import { AgentRunner, EventEmitter, createLogger } from '@mobvibe/worker';
import { createClient } from '@supabase/supabase-js';
import { DEMO_SCRIPT, playDemo } from '../backend/worker/dist/demo.js';

const USAGE = 'usage: npm run demo [-- --pace <n>] [-- --session <uuid>]';

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
}

function settings() {
  const { values } = parseArgs({ options: { pace: { type: 'string' }, session: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const env = process.env;
  const url = (env.SUPABASE_URL || `http://127.0.0.1:${env.PORT || 54321}`).replace(/\/+$/, '');
  const secret = env.JWT_SECRET || DEV_JWT_SECRET;
  const serviceRoleKey = env.SUPABASE_SERVICE_ROLE_KEY || projectKeys(secret).serviceRoleKey;
  const pace = Number(values.pace ?? env.DEMO_PACE ?? 1);
  if (!Number.isFinite(pace) || pace < 0) fail(`--pace must be a number >= 0\n${USAGE}`);
  const sessionId = values.session ?? DEMO_SESSION_ID;
  // A link can only be minted with the server's secret; with a given service key we may not know it.
  const link = env.SUPABASE_SERVICE_ROLE_KEY && !env.JWT_SECRET ? undefined : demoAppLink(url, projectKeys(secret).anonKey, secret);
  return { url, serviceRoleKey, pace, sessionId, link };
}

async function checkServer(url) {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) return;
    fail(`${url}/health answered ${res.status}. Is this the MobVibe server?`);
  } catch (err) {
    fail(`cannot reach ${url} (${err.cause?.code ?? err.message}). Start the server first: npm start`);
  }
}

/** The demo session exists (created for the demo user when missing) and is marked running. */
async function prepareSession(supabase, sessionId) {
  const { data, error } = await supabase.from('sessions').select('id').eq('id', sessionId);
  if (error) fail(`reading session ${sessionId} failed: ${error.message}`);
  if (data.length === 0) {
    if (sessionId !== DEMO_SESSION_ID) fail(`session ${sessionId} does not exist`);
    const { error: insertError } = await supabase.from('sessions').insert({ id: sessionId, user_id: DEMO_USER_ID, title: DEMO_SESSION_TITLE, status: 'running' });
    if (insertError) fail(`creating the demo session failed: ${insertError.message}`);
  }
  await setStatus(supabase, sessionId, 'running');
}

async function setStatus(supabase, sessionId, status) {
  const { error } = await supabase.from('sessions').update({ status }).eq('id', sessionId);
  if (error) process.stderr.write(`demo: could not set the session's status to ${status}: ${error.message}\n`);
}

function describe(record) {
  const p = record.payload;
  switch (record.event_type) {
    case 'thinking':
      return `iteration ${p.iteration}${p.toolsUsed.length ? ` (${p.toolsUsed.join(', ')})` : ''}`;
    case 'file_change':
      return `${p.action} ${p.path}`;
    case 'terminal':
      return `$ ${p.command}${p.error ? '  (failed)' : ''}`;
    case 'preview_ready':
      return p.url;
    case 'error':
      return `${p.code ? `${p.code}: ` : ''}${p.message}`;
    default:
      return p.message ?? '';
  }
}

async function main() {
  const { url, serviceRoleKey, pace, sessionId, link } = settings();
  await checkServer(url);
  const supabase = createClient(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  await prepareSession(supabase, sessionId);
  if (link && sessionId === DEMO_SESSION_ID) process.stdout.write(`\nWatch it live (signed in as the demo user):\n  ${link}\n\n`);
  process.stdout.write(`Streaming ${DEMO_SCRIPT.length} events into session ${sessionId}${pace === 1 ? '' : ` (pace ${pace})`}...\n`);
  const runner = new AgentRunner(new EventEmitter({ supabaseUrl: url, serviceRoleKey, logger: createLogger(process.env.LOG_LEVEL || 'warn') }));
  try {
    await playDemo(runner, sessionId, DEMO_SCRIPT, {
      pace,
      onEvent: (r) => process.stdout.write(`  #${String(r.seq).padEnd(4)} ${r.event_type.padEnd(13)} ${describe(r)}\n`),
    });
  } catch (err) {
    await setStatus(supabase, sessionId, 'failed');
    fail(`streaming stopped: ${err.message}`);
  }
  await setStatus(supabase, sessionId, 'completed');
  process.stdout.write('Done.\n');
}

main().catch((err) => fail(err.stack ?? String(err)));
