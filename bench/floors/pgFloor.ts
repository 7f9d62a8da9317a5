// Floor: latency of a single-row INSERT committed on its own (autocommit, fsync on) in the same PostgreSQL.
import pg from 'pg';
import { nowMs, summarize, type Summary } from '../lib/stats.js';

export async function pgCommitFloor(databaseUrl: string, count = 500): Promise<Summary> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('create temporary table bench_floor (id bigserial primary key, payload jsonb not null)');
  // A temporary table skips WAL; measure a real one instead.
  await client.query('drop table bench_floor; create table if not exists mobvibe.bench_floor (id bigserial primary key, payload jsonb not null)');
  const latencies: number[] = [];
  for (let i = 0; i < count + 20; i++) {
    const t0 = nowMs();
    await client.query('insert into mobvibe.bench_floor (payload) values ($1)', [{ i, output: 'x'.repeat(100) }]);
    if (i >= 20) latencies.push(nowMs() - t0);
  }
  await client.query('drop table mobvibe.bench_floor');
  await client.end();
  return summarize(latencies);
}
