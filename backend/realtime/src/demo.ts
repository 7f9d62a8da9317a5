import type pg from 'pg';
import { userToken } from './auth/keys.js';

/**
 * The local demo: one fixed user with one fixed session, so that the link `npm start` prints and the events
 * `npm run demo` streams meet without any set-up. Development only: the user is not a secret, its token is
 * minted with the server's JWT secret.
 */
export const DEMO_USER_ID = '00000000-0000-4000-8000-00000000d3e0';
export const DEMO_SESSION_ID = '00000000-0000-4000-8000-00000000d3e1';
export const DEMO_SESSION_TITLE = 'Demo: add a dark mode toggle';
/** How long the demo link's access token is valid. */
export const DEMO_TOKEN_SECONDS = 7 * 24 * 3600;

/**
 * Creates the demo user's demo session when it is missing (idempotent; an existing one is left as it is).
 * Resolves to true when it created it.
 */
export async function ensureDemoSession(pool: pg.Pool): Promise<boolean> {
  const { rowCount } = await pool.query(
    `insert into public.sessions (id, user_id, title, status) values ($1, $2, $3, 'waiting') on conflict (id) do nothing`,
    [DEMO_SESSION_ID, DEMO_USER_ID, DEMO_SESSION_TITLE],
  );
  return rowCount === 1;
}

/**
 * The link that opens the web app signed in as the demo user, on the demo session. Everything after `#`
 * stays in the browser (never sent to the server); the app moves it to sessionStorage and clears it.
 *
 * @example
 * demoAppLink('http://127.0.0.1:54321', keys.anonKey, config.jwtSecret)
 * // http://127.0.0.1:54321/app/#access_token=…&anon_key=…&session=00000000-…d3e1
 */
export function demoAppLink(apiUrl: string, anonKey: string, jwtSecret: string, expiresIn = DEMO_TOKEN_SECONDS): string {
  const params = new URLSearchParams({
    access_token: userToken(jwtSecret, DEMO_USER_ID, { expiresIn }),
    anon_key: anonKey,
    session: DEMO_SESSION_ID,
  });
  return `${apiUrl}/app/#${params.toString()}`;
}
