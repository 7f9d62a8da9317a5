// docs/SECURITY.md stays true to the code: its limits tables list every entry of the registry (limits.ts,
// allLimits()) exactly once, with its variable, its default (human figure and exact number), unit and scope, under
// the right heading, and nothing the registry does not have; every MOBVIBE_* setting it names is one the server
// reads; every test file it cites exists; and it never calls anything "secure" (issue 12: say what is enforced and
// which test shows it). Adding a limit, changing a default or renaming a setting without updating the document
// fails here.
//
// The registry is imported from source (as the other tests import src/config.ts), so a stale build cannot hide
// a change.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allLimits, type LimitSpec } from '../src/limits.js';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(pkgDir, '../..');
const docPath = path.join(repoRoot, 'docs', 'SECURITY.md');
const doc = fs.readFileSync(docPath, 'utf8');

const KiB = 1024;
const MiB = 1024 * KiB;
const grouped = (n: number) => n.toLocaleString('en-US');

/** The human figure of a default, as the document writes it: 16 MiB, 64 KiB, 10,000, 100/s, 60 s, 64 levels. */
function human(spec: LimitSpec): string {
  const v = spec.default;
  switch (spec.unit) {
    case 'bytes':
      if (v >= MiB && v % MiB === 0) return `${v / MiB} MiB`;
      if (v >= KiB && v % KiB === 0) return `${v / KiB} KiB`;
      return `${grouped(v)} bytes`;
    case 'ms':
      return v % 1000 === 0 ? `${v / 1000} s` : `${grouped(v)} ms`;
    case 'per second':
      return `${grouped(v)}/s`;
    case 'levels':
      return `${grouped(v)} levels`;
    default:
      return grouped(v);
  }
}

/** The default cell of a limit's row: the human figure, then the exact number in backticks. */
const defaultCell = (spec: LimitSpec) => `${human(spec)} (\`${spec.default}\`)`;

interface Table {
  /** The nearest `#` heading above the table. */
  heading: string;
  rows: Array<Record<string, string>>;
}

/** Cells of a Markdown table line (a `|` escaped as `\|` stays inside its cell). */
const cells = (line: string) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());

/** Every pipe table of the document, each row keyed by its header's column names. */
function tables(markdown: string): Table[] {
  const found: Table[] = [];
  const lines = markdown.split('\n');
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    if (!line.startsWith('|') || !/^\|[\s:|-]+\|$/.test(lines[i + 1]?.trim() ?? '')) continue;
    const header = cells(line);
    const rows: Array<Record<string, string>> = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.startsWith('|'); j++) {
      const row = cells(lines[j]!);
      rows.push(Object.fromEntries(header.map((name, k) => [name, row[k] ?? ''])));
    }
    found.push({ heading, rows });
    i = j - 1;
  }
  return found;
}

const limitTables = tables(doc).filter((t) => t.rows.length > 0 && 'variable' in t.rows[0]! && 'default' in t.rows[0]!);
const limitRows = limitTables.flatMap((t) => t.rows.map((row) => ({ heading: t.heading, row })));

describe('docs/SECURITY.md: the limits tables', () => {
  it('has the limits tables, one for HTTP and REST, one for Realtime', () => {
    assert.deepEqual(limitTables.map((t) => t.heading), ['HTTP and REST', 'Realtime']);
  });

  for (const [key, spec] of allLimits()) {
    it(`lists ${key} (${spec.env}) with its default ${spec.default}, unit and scope`, () => {
      const matches = limitRows.filter(({ row }) => row.variable === `\`${spec.env}\``);
      assert.equal(matches.length, 1, `exactly one row for ${spec.env} in docs/SECURITY.md`);
      const { heading, row } = matches[0]!;
      assert.equal(row.limit, `\`${key}\``);
      assert.equal(row.default, defaultCell(spec), `the default of ${spec.env}`);
      assert.equal(row.unit, spec.unit);
      assert.equal(row['counted per'], spec.per);
      assert.ok((row['past it, the client sees'] ?? '').length > 0, 'says what a client sees past it');
      assert.ok((row['shown by'] ?? '').length > 0, 'names the test that shows it, or says none');
      assert.equal(heading, key.startsWith('realtime.') ? 'Realtime' : 'HTTP and REST', `${key} is in the right table`);
    });
  }

  it('lists nothing that is not in the registry', () => {
    const known = new Set(allLimits().map(([, s]) => `\`${s.env}\``));
    const stale = limitRows.map(({ row }) => row.variable).filter((v) => !known.has(v!));
    assert.deepEqual(stale, []);
  });
});

/** MOBVIBE_* variables a source file reads: as a quoted name, or as `env.NAME` (comments do not count). */
function settingsReadBy(file: string): Set<string> {
  const text = fs.readFileSync(path.join(pkgDir, 'src', file), 'utf8');
  const names = new Set<string>();
  for (const m of text.matchAll(/['"`](MOBVIBE_[A-Z0-9_]+)['"`]|\benv\.(MOBVIBE_[A-Z0-9_]+)/g)) names.add((m[1] ?? m[2])!);
  return names;
}

describe('docs/SECURITY.md: settings and references', () => {
  const fromLimits = new Set(allLimits().map(([, s]) => s.env));
  const fromConfig = settingsReadBy('config.ts');
  // MOBVIBE_DEMO is read by the server binary (main.ts), not by loadConfig.
  const fromMain = settingsReadBy('main.ts');

  it('every MOBVIBE_* setting it names exists in limits.ts, config.ts (or main.ts)', () => {
    const named = new Set(doc.match(/\bMOBVIBE_[A-Z0-9_]+\b/g) ?? []);
    assert.ok(named.size > 0);
    const unknown = [...named].filter((n) => !fromLimits.has(n) && !fromConfig.has(n) && !fromMain.has(n));
    assert.deepEqual(unknown, [], 'settings the server does not read');
  });

  it('documents every MOBVIBE_* setting that config.ts reads', () => {
    assert.ok(fromConfig.has('MOBVIBE_TRUST_PROXY') && fromConfig.has('MOBVIBE_REALTIME_PRIVATE_ONLY'), 'config.ts is read as expected');
    const missing = [...fromConfig, ...fromMain].filter((n) => !doc.includes(n));
    assert.deepEqual(missing, []);
  });

  it('every test file it cites exists', () => {
    const existing = new Set<string>();
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else if (/\.test\.tsx?$/.test(e.name)) existing.add(e.name);
      }
    };
    for (const root of ['backend', 'packages', 'mobile']) walk(path.join(repoRoot, root));
    const cited = new Set(doc.match(/[\w.-]+\.test\.tsx?/g) ?? []);
    assert.ok(cited.size > 0);
    assert.deepEqual([...cited].filter((f) => !existing.has(f)), [], 'cited test files that do not exist');
  });

  it('never says "secure" (issue 12: it says what is enforced and which test shows it)', () => {
    assert.deepEqual(doc.match(/\bsecure(d|ly)?\b/gi) ?? [], []);
  });
});
