import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/build-web.mjs');

/** Builds mobile/dist when a source is newer than it (npm ci builds it; this keeps edits honest). */
export function ensureWebBuild(): Promise<void> {
  return new Promise((resolve, reject) => {
    // Piped, not inherited: the test runner reads this process's stdout as its report.
    const child = spawn(process.execPath, [script, '--if-stale'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`building the web app failed (exit ${code}):\n${out}`))));
  });
}
