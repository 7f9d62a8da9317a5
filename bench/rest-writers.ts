// `npm run bench:rest-writers [-- --seconds 10 --writers 20 --rounds 2]`: the original plan's write path alone
// (bench/lib/restWriters.ts; `npm run bench` runs the same as scenario h). Prints the numbers and writes JSON.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { killWorkers, stopOnInterrupt } from './lib/procs.js';
import { describeRestWriters, measureRestWriters } from './lib/restWriters.js';
import { startBenchServer, type BenchServer } from './lib/server.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    writers: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});

let running: BenchServer | undefined;

async function main(): Promise<void> {
  const server = await startBenchServer();
  running = server;
  try {
    const report = await measureRestWriters(server, { seconds: Number(args.seconds), writers: Number(args.writers), rounds: Number(args.rounds) }, console.log);
    console.log(`\n${describeRestWriters(report)}`);
    const out = args.out ?? path.join('bench-results', `rest-writers-${report.when.replace(/[:.]/g, '-')}.json`);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, JSON.stringify(report, null, 2));
    console.log(`wrote ${out}`);
    if (report.live.lost > 0 || report.live.duplicates > 0 || report.live.outOfOrder > 0) process.exitCode = 1;
  } finally {
    killWorkers();
    await server.stop();
  }
}

// Interrupted: the writers and the server (with its PostgreSQL) stop too.
stopOnInterrupt(() => (running ? [() => running!.stop()] : []));
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
