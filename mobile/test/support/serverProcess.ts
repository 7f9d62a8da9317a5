import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_JWT_SECRET, freePort } from '@mobvibe/testkit';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = path.join(repo, 'backend', 'realtime', 'dist', 'main.js');

/** A free loopback port (released again at once, so a process can listen on it). */
export { freePort };

/**
 * The server as `npm start` runs it (backend/realtime/dist/main.js), as a separate process on a fixed
 * loopback port over a given database, so a test can stop, kill and restart it while the browser keeps
 * its page open.
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private out = '';

  constructor(
    readonly port: number,
    private readonly databaseUrl: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything the current process printed (stdout and stderr). */
  get output(): string {
    return this.out;
  }

  /** Starts the process and resolves once it printed its keys (it is listening then). */
  async start(): Promise<void> {
    if (this.child) throw new Error('ServerProcess.start: already running; stop() it first');
    this.out = '';
    const child = spawn(process.execPath, [MAIN], {
      cwd: repo,
      env: {
        ...process.env,
        DATABASE_URL: this.databaseUrl,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!this.out.includes('service_role key:')) {
      if (child.exitCode !== null) {
        this.child = undefined;
        throw new Error(`the server exited while starting (code ${child.exitCode}):\n${this.out}`);
      }
      if (Date.now() > deadline) throw new Error(`the server did not start within 60 s:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM (a clean shutdown that closes every connection), and waits for the exit. */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  /** SIGKILL: the process vanishes without closing anything. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
