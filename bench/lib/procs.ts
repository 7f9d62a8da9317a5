import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** `BENCH_WORKER_PROFILE=<dir>`: every worker writes a V8 CPU profile there when it exits. */
const profile = process.env.BENCH_WORKER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_PROFILE}`] : [];

/** Every worker started and not yet exited: killed when the bench process exits, however it exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => killWorkers());

/** Starts a bench worker (bench/workers/<name>.ts) as its own process with an IPC channel. */
export function startWorker(name: string, env: Record<string, string> = {}): ChildProcess {
  const child = fork(path.join(here, '..', 'workers', `${name}.ts`), [], {
    execArgv: ['--import', 'tsx', ...profile],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // A send to a worker that was killed (an interrupt, a failed run) must not crash the runner before it stops
  // the server: its exit is what callers see (nextMessage rejects).
  child.on('error', () => undefined);
  return child;
}

/** Kills every running worker (SIGKILL: workers hold nothing that needs a clean stop). */
export function killWorkers(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * On SIGINT or SIGTERM: every worker is killed, each of `stops()` (the server with its PostgreSQL, the peer) is
 * awaited, then the process exits with 130. `stops` is read when the signal comes, so it may grow as things start.
 */
export function stopOnInterrupt(stops: () => ReadonlyArray<() => Promise<void>>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killWorkers();
      void Promise.allSettled(stops().map((stop) => stop())).finally(() => process.exit(130));
    });
  }
}

/** Resolves with the first IPC message of `type` from `child` (rejects if it exits first or after `timeoutMs`). */
export function nextMessage<T>(child: ChildProcess, type: string, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from worker within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string }) => m?.type === type && done(undefined, m as T);
    const onExit = (code: number | null) => done(new Error(`worker exited (${code}) before "${type}"`));
    function done(err?: Error, value?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export interface Usage {
  /** CPU seconds (user + system) so far. */
  cpuSeconds: number;
  rssBytes: number;
}

const TICKS = 100; // USER_HZ on Linux

/** CPU time and RSS of a process, from /proc. */
export function usageOf(pid: number): Usage {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime + stime, plus cutime + cstime: the time of children it has reaped (PostgreSQL's exited backends).
  const cpuSeconds = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds, rssBytes: rssKb * 1024 };
}

/** All descendants of `pid` (e.g. PostgreSQL's backends under the server). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const children = (p: number): number[] => {
    try {
      return fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const stack = children(pid);
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...children(p));
  }
  return out;
}

/** Sum of usage over a process tree. */
export function treeUsage(pid: number): Usage {
  let cpuSeconds = 0;
  let rssBytes = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const u = usageOf(p);
      cpuSeconds += u.cpuSeconds;
      rssBytes += u.rssBytes;
    } catch {
      /* exited meanwhile */
    }
  }
  return { cpuSeconds, rssBytes };
}
