// Generators of the fuzz suite (not a test file). Every generated value prints readably in a counterexample:
// strings are JSON-escaped by fast-check, long runs are {repeat, times} pieces, bytes are Uint8Arrays.
import { METHODS } from 'node:http';
import fc from 'fast-check';
import { signJwt, type JwtClaims } from '@mobvibe/realtime-server';
import { TEST_JWT_SECRET } from '@mobvibe/testkit';
import type { Cast } from './harness.js';
import { KEYS, latin1 } from './harness.js';

// ---------------------------------------------------------------------------------------------------------------
// Pieces of text

/** A string, or a long run of one (rendered only when sent). */
export type Piece = string | { repeat: string; times: number };
export const render = (p: Piece): string => (typeof p === 'string' ? p : p.repeat.repeat(p.times));
export const renderAll = (ps: Piece[]): string => ps.map(render).join('');

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
const CONTROL = ['\t', '\x00', '\x01', '\x07', '\x0b', '\x1b', '\x7f', '\r', '\n'];
const OBS_TEXT = ['\x80', '\xa0', '\xe9', '\xff'];
const NON_LATIN1 = ['€', 'ı', 'ß', '\u2028', '\ud800', '😀', '\ufeff'];
const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');

/** Mostly printable ASCII, sometimes a control character, obs-text or a character beyond latin1. */
export const mixedChar = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...PRINTABLE) },
  { weight: 2, arbitrary: fc.constantFrom(...CONTROL) },
  { weight: 2, arbitrary: fc.constantFrom(...OBS_TEXT) },
  { weight: 2, arbitrary: fc.constantFrom(...NON_LATIN1) },
);
export const mixedString = (maxLength = 16) => fc.string({ unit: mixedChar, maxLength });
/** Like mixedString, with control characters rarer (header values, targets: mostly parseable, sometimes not). */
const mostlyPrintableChar = fc.oneof(
  { weight: 200, arbitrary: fc.constantFrom(...PRINTABLE) },
  { weight: 1, arbitrary: fc.constantFrom(...CONTROL) },
  { weight: 3, arbitrary: fc.constantFrom(...OBS_TEXT) },
  { weight: 3, arbitrary: fc.constantFrom(...NON_LATIN1) },
);
export const mostlyPrintableString = (maxLength = 16) => fc.string({ unit: mostlyPrintableChar, maxLength });
export const printableString = (maxLength = 16) => fc.string({ unit: 'grapheme-ascii', maxLength });
export const token = (minLength = 1, maxLength = 12) => fc.string({ unit: fc.constantFrom(...TCHAR), minLength, maxLength });

const long = (chunks: string[], max: number) => fc.record({ repeat: fc.constantFrom(...chunks), times: fc.integer({ min: 200, max }) });

const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
export const percentEscape = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((n) => `%${hex2(n)}`),
  fc.constantFrom('%', '%z', '%zz', '%E0%A4%A', '%C3%28', '%ED%A0%80', '%00', '%2F', '%5C', '%25', '%u0041', '%F0%9F%98%80', '%2e%2e', '%0D%0A'),
);

// ---------------------------------------------------------------------------------------------------------------
// Identities and tokens

const now = Math.floor(Date.now() / 1000);

/** Claims with a valid signature but anything in them: roles, subs, expiries of every kind, extra claims. */
/**
 * `forWrites`: never service_role nor the side channel's user, so a fuzzed DELETE or PATCH cannot take the side
 * channel's session away (that would fail the side check without any server bug).
 */
const weirdClaims = (cast: Cast, forWrites: boolean) =>
  fc
    .record(
      {
        role: fc.constantFrom<unknown>('authenticated', 'anon', ...(forWrites ? [] : ['service_role']), 'postgres', 'AUTHENTICATED', '', 7, null, ['authenticated']),
        sub: fc.constantFrom<unknown>(cast.userB, cast.userB.toUpperCase(), cast.userA, ...(forWrites ? [] : [cast.userS]), '00000000-0000-0000-0000-000000000000', 'not-a-uuid', 42, null, { id: cast.userB }),
        exp: fc.constantFrom<unknown>(now + 3600, now - 10, `${now + 3600}`, 1e300, -1, null, now + 3600.5),
        iat: fc.constantFrom<unknown>(undefined, now, now + 3600, 'now', null),
        extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
      },
      { requiredKeys: ['role', 'exp'] },
    )
    .map(({ extra, ...claims }) => {
      const c: Record<string, unknown> = { ...extra };
      for (const [k, v] of Object.entries(claims)) if (v !== undefined) c[k] = v;
      return c;
    });

export type TokenSpec =
  | { kind: 'named'; name: 'anon' | 'service' | 'A' | 'B' | 'S' | 'expiredB' }
  | { kind: 'signed'; claims: Record<string, unknown> }
  | { kind: 'junk'; text: string };

export const tokenSpec = (cast: Cast, weights: Partial<Record<'anon' | 'service' | 'A' | 'B' | 'S' | 'expiredB' | 'signed' | 'junk', number>>, forWrites = false) =>
  fc.oneof(
    ...(['anon', 'service', 'A', 'B', 'S', 'expiredB'] as const)
      .filter((n) => (weights[n] ?? 0) > 0)
      .map((name) => ({ weight: weights[name]!, arbitrary: fc.constant<TokenSpec>({ kind: 'named', name }) })),
    ...((weights.signed ?? 0) > 0 ? [{ weight: weights.signed!, arbitrary: weirdClaims(cast, forWrites).map((claims): TokenSpec => ({ kind: 'signed', claims })) }] : []),
    ...((weights.junk ?? 0) > 0
      ? [
          {
            weight: weights.junk!,
            arbitrary: fc
              .oneof(
                fc.constantFrom('', 'a.b.c', 'Bearer', 'null', 'eyJhbGciOiJIUzI1NiJ9.e30.', `${KEYS.anonKey}x`, `${KEYS.anonKey.slice(0, -2)}==`, KEYS.anonKey.split('.').slice(0, 2).join('.')),
                printableString(40),
              )
              .map((text): TokenSpec => ({ kind: 'junk', text })),
          },
        ]
      : []),
  );

/** A token inside a generated JSON value: `{$token: spec}`, replaced by the token text when sent ({@link materialize}). */
export const tokenRef = (spec: TokenSpec) => ({ $token: spec });

const isTokenSpec = (v: unknown): v is TokenSpec =>
  typeof v === 'object' && v !== null && ['named', 'signed', 'junk'].includes((v as { kind?: string }).kind ?? '');

/** A generated value with every `{$token: spec}` replaced by its token. */
export function materialize(v: unknown, cast: Cast, expiredB: string): unknown {
  if (Array.isArray(v)) return v.map((x) => materialize(x, cast, expiredB));
  if (typeof v !== 'object' || v === null) return v;
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === '$token' && isTokenSpec((v as { $token: unknown }).$token)) return tokenOf((v as { $token: TokenSpec }).$token, cast, expiredB);
  const out: Record<string, unknown> = {};
  for (const k of keys) Object.defineProperty(out, k, { value: materialize((v as Record<string, unknown>)[k], cast, expiredB), enumerable: true, writable: true, configurable: true });
  return out;
}

export function tokenOf(spec: TokenSpec, cast: Cast, expiredB: string): string {
  if (spec.kind === 'junk') return spec.text;
  if (spec.kind === 'signed') return signJwt(spec.claims as JwtClaims, TEST_JWT_SECRET);
  switch (spec.name) {
    case 'anon': return KEYS.anonKey;
    case 'service': return KEYS.serviceRoleKey;
    case 'A': return cast.tokenA;
    case 'B': return cast.tokenB;
    case 'S': return cast.tokenS;
    case 'expiredB': return expiredB;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Values used in filters (REST and realtime)

export const uuidValue = (cast: Cast) =>
  fc.oneof(
    fc.constantFrom(...cast.sessionsA, ...cast.sessionsB, cast.sessionS, cast.userA, cast.userB, cast.sessionsB[0]!.toUpperCase()),
    fc.uuid(),
    fc.constantFrom('00000000-0000-0000-0000-000000000000', 'not-a-uuid', '{' + cast.sessionsB[0] + '}', cast.sessionsB[0]!.replace(/-/g, ''), cast.sessionsB[0]! + ' '),
  );

const numberText = fc.oneof(
  fc.integer({ min: -5, max: 100 }).map(String),
  fc.constantFrom('0', '-0', '1.5', '1e5', '1e400', '-1e400', 'NaN', 'Infinity', '-Infinity', '0x10', '99999999999999999999', '9223372036854775807', '9223372036854775808', ' 1', '1 ', ''),
  fc.double().map(String),
);
const timeText = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('now', 'today', 'infinity', '-infinity', 'epoch', '2026-13-45', '99999-01-01', '2026-01-01T00:00:00+25:00', 'Tue, 01 Jan 2026', '0', 'allballs'),
);
const quotedText = fc.oneof(
  printableString(12),
  mixedString(12),
  fc.constantFrom('"', '\\', '""', '"a,b"', '(a)', 'a,b', ')', '(', '\\"', "'", "''", '%', '*', 'null', 'NULL', '{}', '[]', '{"a":1}', '\u0000'),
);

export const filterValue = (cast: Cast) =>
  fc.oneof({ weight: 3, arbitrary: uuidValue(cast) }, { weight: 2, arbitrary: numberText }, { weight: 1, arbitrary: timeText }, { weight: 2, arbitrary: quotedText }, { weight: 1, arbitrary: fc.constantFrom('true', 'false', 't', 'f', 'thinking', 'running') });

/** `(a,b,"c,d")`-style lists: quoted or not, escapes, nested and unbalanced parentheses, empty, over 100 items. */
export const inList = (cast: Cast) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.array(fc.tuple(filterValue(cast), fc.constantFrom('plain', 'quoted', 'escaped')), { maxLength: 5 }),
          fc.constantFrom(',', ', ', ' ,', ',,'),
          fc.constantFrom<[string, string]>(['(', ')'], ['(', ')'], ['(', ')'], ['((', '))'], ['(', ''], ['', ')'], ['{', '}'], ['', '']),
        )
        .map(([items, sep, [open, close]]) =>
          open +
          items
            .map(([v, style]) => (style === 'quoted' ? `"${v.replace(/"/g, '\\"')}"` : style === 'escaped' ? v.replace(/([,()"\\])/g, '\\$1') : v))
            .join(sep) +
          close,
        ),
    },
    { weight: 1, arbitrary: fc.record({ value: uuidValue(cast), times: fc.integer({ min: 90, max: 160 }) }).map(({ value, times }) => `(${Array(times).fill(value).join(',')})`) },
  );


// ---------------------------------------------------------------------------------------------------------------
// Well-typed conditions (so that the generators reach the database and the subscription index, not only the parser)

export const TABLE_COLUMNS: Record<'sessions' | 'session_events', Record<string, 'uuid' | 'text' | 'number' | 'time' | 'json'>> = {
  sessions: { id: 'uuid', user_id: 'uuid', title: 'text', status: 'text', created_at: 'time' },
  session_events: { id: 'uuid', session_id: 'uuid', seq: 'number', event_type: 'text', payload: 'json', created_at: 'time' },
};
type Kind = 'uuid' | 'text' | 'number' | 'time' | 'json';

const typedValue = (cast: Cast, kind: Kind): fc.Arbitrary<string> => {
  switch (kind) {
    case 'uuid': return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...cast.sessionsA, ...cast.sessionsB, cast.sessionS, cast.userA, cast.userB) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: uuidValue(cast) });
    case 'number': return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -2, max: 50 }).map(String) }, { weight: 1, arbitrary: numberText });
    case 'time': return fc.oneof({ weight: 3, arbitrary: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()) }, { weight: 1, arbitrary: timeText });
    case 'json': return fc.oneof(fc.json({ maxDepth: 2 }), quotedText);
    default: return fc.oneof({ weight: 3, arbitrary: fc.constantFrom('thinking', 'running', 'done', 'fuzz A', 'fuzz B', 'side channel', '') }, { weight: 2, arbitrary: quotedText });
  }
};

/** `col`, `op.value` for a real column of `table` with a value of its type (mostly). */
const typedCondition = (cast: Cast, table: 'sessions' | 'session_events', ops: string[]) =>
  fc.constantFrom(...Object.keys(TABLE_COLUMNS[table])).chain((column) => {
    const kind = TABLE_COLUMNS[table][column]!;
    return fc
      .record({
        not: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        op: fc.constantFrom(...ops),
        value: typedValue(cast, kind),
        list: fc.array(fc.tuple(typedValue(cast, kind), fc.boolean()), { maxLength: 4 }),
      })
      .map(({ not, op, value, list }): [string, string] => {
        const rendered = op === 'in' ? `(${list.map(([v, quoted]) => (quoted ? `"${v.replace(/(["\\])/g, '\\$1')}"` : v)).join(',')})` : value;
        return [column, `${not ? 'not.' : ''}${op}.${rendered}`];
      });
  });

// ---------------------------------------------------------------------------------------------------------------
// Property 2: REST query strings

export const REST_COLUMNS = ['id', 'user_id', 'title', 'status', 'created_at', 'session_id', 'seq', 'event_type', 'payload'];
const FAKE_COLUMNS = ['nope', 'ID', 'payload->>x', 'payload->x', 'sessions(*)', 'id::text', 'alias:id', '', ' id', 'id ', 'or', 'and', 'not.or', 'not.and', 'select', 'order', 'limit', 'offset', 'columns', 'on_conflict', '__proto__', 'constructor', 'count()', '*'];
export const columnName = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...REST_COLUMNS) }, { weight: 2, arbitrary: fc.constantFrom(...FAKE_COLUMNS) }, { weight: 1, arbitrary: mixedString(10) });

const REST_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'is', 'like', 'ilike', 'fts', 'cs', 'cd', 'ov', 'sl', 'match', 'EQ', '', 'x',
  'imatch', 'isdistinct', 'plfts', 'phfts', 'wfts', 'fts(english)', 'fts(nope)', 'sr', 'nxl', 'nxr', 'adj', 'eq(any)', 'like(all)', 'gt(any)', 'eq(some)'];
const IS_VALUES = ['null', 'not_null', 'true', 'false', 'unknown', 'NULL', 'True', 'maybe', ''];

export const restFilterValue = (cast: Cast) =>
  fc
    .record({
      not: fc.boolean(),
      op: fc.constantFrom(...REST_OPS),
      value: fc.oneof({ weight: 4, arbitrary: filterValue(cast) }, { weight: 3, arbitrary: inList(cast) }, { weight: 2, arbitrary: fc.constantFrom(...IS_VALUES) }),
      noDot: fc.boolean(),
    })
    .map(({ not, op, value, noDot }) => `${not ? 'not.' : ''}${op}${noDot && value === '' ? '' : '.'}${value}`);

const selectValue = fc.oneof(
  fc.constantFrom('*', '', ' * ', 'id', 'id,title', 'id, *', '*,sessions(*)', 'payload->>x', 'count()', 'id::text', 'a:id', 'id,,title', ',', 'seq,event_type,payload', '"id"',
    'payload->a->>0', 'payload->-1', 'n:payload->>message::int', 'id::double precision', 'id::x;drop', 'seq.sum()', '...sessions(*)', 'a:b:id', '"a""b":id', 'payload->"a,b"', 'id::text[]'),
  fc.array(columnName, { maxLength: 4 }).map((cs) => cs.join(',')),
);
const orderValue = fc.oneof(
  fc.array(
    fc.tuple(columnName, fc.array(fc.constantFrom('asc', 'desc', 'nullsfirst', 'nullslast', 'ASC', 'nulls', ''), { maxLength: 3 })).map(([c, mods]) => [c, ...mods].join('.')),
    { minLength: 1, maxLength: 3 },
  ).map((ts) => ts.join(',')),
  mixedString(12),
);
const countValue = fc.oneof(
  fc.nat({ max: 20 }).map(String),
  fc.constantFrom('0', '-1', '1.5', '1e3', '', ' 1', '0x10', '9007199254740991', '9007199254740992', '99999999999999999999', '10000', '10001', 'all', 'NaN'),
  mixedString(6),
);

/** One query parameter as [key, value] (both unencoded). */
export const restParam = (cast: Cast) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.tuple(columnName, restFilterValue(cast)) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('select'), selectValue) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('order'), orderValue) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('limit', 'offset'), countValue) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('on_conflict', 'columns'), selectValue) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('or', 'and', 'not.or', 'not.and'), fc.constantFrom('(id.eq.1,title.eq.x)', '', 'x', '(title.like.*a*,and(seq.gt.1,seq.lt.3))', '(payload->>x.eq.1,not.title.is.null)', '(title.in.("a,b",c),or(title.eq.x))', '(title.eq."unclosed)', '((', '(title.eq.{a,b})', '(x.y.eq.1)')) },
    { weight: 1, arbitrary: fc.tuple(mixedString(8), mixedString(12)) },
  );

const QUERY_SAFE = /[A-Za-z0-9\-_.~(),*:!$'@]/;
/** Percent-encodes what must be encoded in a query component, keeping PostgREST's punctuation readable. */
export function encodeQueryPart(s: string): string {
  let out = '';
  for (const ch of s) out += QUERY_SAFE.test(ch) ? ch : Buffer.from(ch, 'utf8').toString('hex').replace(/../g, (h) => `%${h.toUpperCase()}`);
  return out;
}

export interface QuerySpec {
  params: Array<[string, string]>;
  /** Raw text appended to the query as is (malformed escapes, stray separators). */
  rawTail: string;
}

export const querySpec = (cast: Cast, table: 'sessions' | 'session_events' = 'sessions') =>
  fc.record({
    params: fc.array(
      fc.oneof(
        { weight: 3, arbitrary: typedCondition(cast, table, ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'eq', 'in']) },
        { weight: 1, arbitrary: fc.constantFrom<[string, string]>(['id', 'is.null'], ['title', 'is.not_null'], ['select', '*'], ['select', 'id,title'], ['select', 'seq,event_type,payload'], ['order', 'seq.desc'], ['order', 'created_at.asc.nullslast,id'], ['limit', '2'], ['offset', '1']) },
        { weight: 2, arbitrary: restParam(cast) },
      ),
      { maxLength: 4 },
    ),
    rawTail: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.array(fc.oneof(percentEscape, fc.constantFrom('&', '=', '&&', '==', '+', ';', '?', '#x')), { maxLength: 3 }).map((a) => a.join('')) }),
  });

export const renderQuery = (q: QuerySpec): string => {
  const text = q.params.map(([k, v]) => `${encodeQueryPart(k)}=${encodeQueryPart(v)}`).join('&') + q.rawTail;
  return text === '' ? '' : `?${text}`;
};

const PREFER_ITEMS = ['count=exact', 'count=planned', 'count=estimated', 'count=none', 'return=representation', 'return=minimal', 'return=headers-only', 'resolution=ignore-duplicates', 'resolution=merge-duplicates', 'missing=default', 'missing=null', 'tx=rollback', 'tx=commit', 'handling=strict', 'timezone=UTC', 'params=single-object', 'garbage', ''];
export const preferHeaders = fc.oneof(
  { weight: 3, arbitrary: fc.constant<string[]>([]) },
  {
    weight: 5,
    arbitrary: fc.array(
      fc.tuple(fc.array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PREFER_ITEMS) }, { weight: 1, arbitrary: printableString(12) }), { minLength: 1, maxLength: 4 }), fc.constantFrom(',', ', ', ' , ', ';'))
        .map(([items, sep]) => items.join(sep)),
      { minLength: 1, maxLength: 2 },
    ),
  },
);
export const acceptHeader = fc.option(
  fc.oneof(
    fc.constantFrom('application/json', 'application/vnd.pgrst.object+json', 'application/vnd.pgrst.object+json;nulls=stripped', 'text/csv', '*/*', 'application/geo+json', 'application/octet-stream', 'text/plain', '', 'application/json, application/vnd.pgrst.object+json'),
    printableString(20),
  ),
  { nil: undefined },
);
export const profileHeaders = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Array<[string, string]>>([]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Accept-Profile', 'Content-Profile'), fc.constantFrom('public', 'mobvibe', 'auth', '', 'PUBLIC')).map((h) => [h]) },
);

// ---------------------------------------------------------------------------------------------------------------
// Property 3: REST bodies

const EVENT_TYPES = ['thinking', 'file_change', 'terminal', 'preview_ready', 'error', 'completion'];
const loose = fc.jsonValue({ maxDepth: 3 });

/** Payloads near the event schemas: valid, wrong types, extra keys. */
const payloadFor = fc.oneof(
  fc.record({ iteration: fc.oneof(fc.integer(), fc.double(), fc.string()), toolsUsed: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }) }),
  fc.record({ path: fc.string(), action: fc.constantFrom('write', 'delete', 'move') }),
  fc.record({ command: fc.string(), output: fc.string(), error: fc.option(fc.string(), { nil: undefined }) }, { requiredKeys: ['command', 'output'] }),
  fc.record({ url: fc.oneof(fc.webUrl(), fc.constantFrom('javascript:alert(1)', 'ftp://x', '')), qrCode: fc.string() }),
  fc.record({ message: fc.string({ unit: 'grapheme', maxLength: 20 }), code: fc.option(fc.string(), { nil: undefined }) }, { requiredKeys: ['message'] }),
  loose,
);

const text = fc.oneof({ weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) }, { weight: 1, arbitrary: fc.constantFrom('', '\u0000', '"\'\\', '\n\r\t', 'x'.repeat(2000)) });

/** An event exactly as the schemas want it (so it is stored and delivered), its strings of every kind. */
const validEvent = (cast: Cast) =>
  fc.constantFrom(...EVENT_TYPES).chain((event_type) => {
    const payload =
      event_type === 'thinking' ? fc.record({ iteration: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })), toolsUsed: fc.array(text, { maxLength: 3 }) })
      : event_type === 'file_change' ? fc.record({ path: text, action: fc.constantFrom('write', 'delete') })
      : event_type === 'terminal' ? fc.record({ command: text, output: text, error: fc.option(text, { nil: undefined }) }, { requiredKeys: ['command', 'output'] })
      : event_type === 'preview_ready' ? fc.record({ url: fc.webUrl({ validSchemes: ['http', 'https'] }), qrCode: text })
      : event_type === 'error' ? fc.record({ message: text, code: fc.option(text, { nil: undefined }) }, { requiredKeys: ['message'] })
      : fc.record({ message: text });
    return fc.record({ session_id: fc.constantFrom(cast.sessionS, cast.sessionS, ...cast.sessionsA), event_type: fc.constant(event_type), payload });
  });

const validSession = (cast: Cast) =>
  fc.record({ id: fc.uuid(), user_id: fc.constant(cast.userA), title: fc.oneof(text, fc.constant(null)), status: fc.constantFrom('running', 'done', null) }, { requiredKeys: ['user_id'] });

export const eventRow = (cast: Cast, withId: boolean) =>
  fc.record(
    {
      id: withId ? fc.oneof(fc.uuid(), fc.constantFrom('x', '')) : fc.uuid(),
      session_id: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(cast.sessionS, ...cast.sessionsA) }, { weight: 1, arbitrary: uuidValue(cast) }, { weight: 1, arbitrary: loose }),
      event_type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...EVENT_TYPES) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }),
      payload: payloadFor,
      seq: fc.oneof(fc.integer(), loose),
      created_at: fc.oneof(timeText, loose),
      extra: loose,
    },
    { requiredKeys: withId ? ['id', 'session_id', 'event_type', 'payload'] : ['session_id', 'event_type', 'payload'] },
  );

const sessionRow = (cast: Cast) =>
  fc.record(
    {
      id: fc.oneof(fc.uuid(), fc.constantFrom(...cast.sessionsA), loose),
      user_id: fc.oneof({ weight: 4, arbitrary: fc.constant(cast.userA) }, { weight: 1, arbitrary: uuidValue(cast) }, { weight: 1, arbitrary: loose }),
      title: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), loose),
      status: fc.oneof(fc.constantFrom('running', 'done', 'failed'), loose),
      created_at: fc.oneof(timeText, loose),
      nope: loose,
    },
    { requiredKeys: [] },
  );

const broadcastBody = fc.record(
  {
    messages: fc.oneof(
      fc.array(fc.record({ topic: fc.constantFrom('room', 'fuzz', 'room2'), event: fc.constantFrom('ev', 'x'), payload: fc.jsonValue({ maxDepth: 4 }) }), { minLength: 1, maxLength: 3 }),
      fc.array(
        fc.record(
          { topic: fc.oneof(fc.constantFrom('room', 'realtime:room', '', 'x'.repeat(250)), fc.string(), loose), event: fc.oneof(fc.constantFrom('ev', ''), fc.string(), loose), payload: loose, private: fc.oneof(fc.boolean(), loose) },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
      fc.constant(Array.from({ length: 101 }, () => ({ topic: 'room', event: 'ev', payload: {} }))),
      loose,
    ),
  },
  { requiredKeys: [] },
);

/** Deeply nested JSON text: balanced or not, arrays or objects, around a depth limit of 64. */
const deepText = fc
  .record({ depth: fc.oneof(fc.integer({ min: 60, max: 70 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1000, max: 50_000 })), open: fc.constantFrom('[', '{"a":', '{"events":[', '["', '[{"x":'), balanced: fc.boolean() })
  .map(({ depth, open, balanced }) => ({ deep: { open, depth, balanced } }));
export const renderDeep = (d: { open: string; depth: number; balanced: boolean }): string => {
  if (d.open === '["') return '['.repeat(d.depth) + '"' + (d.balanced ? '"' + ']'.repeat(d.depth) : '');
  const close = d.open === '[' ? ']' : d.open === '{"a":' ? '}' : d.open === '{"events":[' ? ']}' : '}]';
  const inner = d.open === '{"events":[' ? '' : d.open === '[{"x":' ? '1' : d.open === '{"a":' ? '1' : '';
  return d.open.repeat(d.depth) + inner + (d.balanced ? close.repeat(d.depth) : '');
};

export type BodySpec =
  | { json: unknown }
  | { text: string }
  | { truncated: unknown; at: number }
  | { deep: { open: string; depth: number; balanced: boolean } }
  | { bytes: Uint8Array }
  | { badUtf8: unknown; insert: number[] }
  | { none: true };

/** Bodies for a target whose plausible bodies are `plausible`. */
export const bodySpec = (plausible: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 14, arbitrary: plausible.map((json): BodySpec => ({ json })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 100 }).map((json): BodySpec => ({ json })) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 8 }).map((text): BodySpec => ({ text })) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', ' ', 'null', 'nul', '{', '[', '{"a":}', '[1,]', '\ufeff{}', '{}{}', '1e999999', '"\\ud800"', '{"a":"\\u0000"}', 'NaN', '{"__proto__":{"x":1}}'), mixedString(30)).map((text): BodySpec => ({ text })) },
    { weight: 2, arbitrary: fc.tuple(plausible, fc.nat()).map(([truncated, at]): BodySpec => ({ truncated, at })) },
    { weight: 2, arbitrary: deepText.map((d): BodySpec => d) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): BodySpec => ({ bytes })) },
    { weight: 2, arbitrary: fc.tuple(plausible, fc.array(fc.constantFrom(0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xc0, 0xaf, 0xf8, 0x00), { minLength: 1, maxLength: 4 })).map(([badUtf8, insert]): BodySpec => ({ badUtf8, insert })) },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ none: true }) },
  );

export function renderBody(b: BodySpec): Buffer | undefined {
  if ('none' in b) return undefined;
  if ('json' in b) return Buffer.from(JSON.stringify(b.json) ?? 'null', 'utf8');
  if ('text' in b) return Buffer.from(b.text, 'utf8');
  if ('truncated' in b) {
    const text = JSON.stringify(b.truncated) ?? '';
    return Buffer.from(text.slice(0, text.length === 0 ? 0 : b.at % text.length), 'utf8');
  }
  if ('deep' in b) return Buffer.from(renderDeep(b.deep), 'utf8');
  if ('bytes' in b) return Buffer.from(b.bytes);
  // Invalid UTF-8 bytes spliced into a JSON string value (or at the start when there is none).
  const text = Buffer.from(JSON.stringify(b.badUtf8) ?? '""', 'utf8');
  const quote = text.indexOf(0x22);
  const at = quote < 0 ? 0 : quote + 1;
  return Buffer.concat([text.subarray(0, at), Buffer.from(b.insert), text.subarray(at)]);
}

export const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant<string | undefined>('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | undefined>(
      undefined, 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', '', 'application/vnd.pgrst.object+json', 'text/csv', 'APPLICATION/JSON',
    ),
  },
);

export type BodyTarget = 'sessions.post' | 'sessions.patch' | 'events.post' | 'events.patch' | 'rpc' | 'broadcast' | 'broadcast.single';

export const bodyCase = (cast: Cast) =>
  fc.oneof(
    fc.record({ target: fc.constant<BodyTarget>('sessions.post'), body: bodySpec(fc.oneof(validSession(cast), validSession(cast), fc.array(validSession(cast), { minLength: 1, maxLength: 3 }), sessionRow(cast), fc.array(sessionRow(cast), { maxLength: 3 }))), query: fc.constantFrom('', '?select=id,title', '?columns=id,user_id,title', '?columns=nope', '?on_conflict=id', '?on_conflict=title') }),
    fc.record({ target: fc.constant<BodyTarget>('sessions.patch'), body: bodySpec(fc.oneof(fc.record({ title: text, status: fc.constantFrom('running', 'done') }, { requiredKeys: [] }), sessionRow(cast))), query: fc.constantFrom(`?id=eq.${cast.sessionsA[0]}`, `?id=in.(${cast.sessionsA.join(',')})`, `?id=eq.${cast.sessionS}`, '?title=eq.x', '') }),
    fc.record({ target: fc.constant<BodyTarget>('events.post'), body: bodySpec(fc.oneof(validEvent(cast), validEvent(cast), fc.array(validEvent(cast), { minLength: 1, maxLength: 4 }), eventRow(cast, false), fc.array(eventRow(cast, false), { maxLength: 3 }))), query: fc.constantFrom('', '?select=seq', '?on_conflict=id', '?columns=session_id,event_type,payload') }),
    fc.record({ target: fc.constant<BodyTarget>('events.patch'), body: bodySpec(fc.record({ payload: payloadFor, seq: fc.integer() }, { requiredKeys: [] })), query: fc.constantFrom(`?session_id=eq.${cast.sessionS}`, '') }),
    fc.record({
      target: fc.constant<BodyTarget>('rpc'),
      body: bodySpec(
        fc.oneof(
          { weight: 3, arbitrary: fc.array(fc.tuple(fc.uuid(), validEvent(cast)).map(([id, e]) => ({ id, ...e })), { maxLength: 5 }).map((events) => ({ events })) },
          { weight: 2, arbitrary: fc.record({ events: fc.oneof({ weight: 5, arbitrary: fc.array(eventRow(cast, true), { maxLength: 4 }) }, { weight: 1, arbitrary: loose }), extra: loose }, { requiredKeys: ['events'] }) },
        ),
      ),
      query: fc.constantFrom('', '', '', '?select=seq'),
    }),
    fc.record({ target: fc.constant<BodyTarget>('broadcast'), body: bodySpec(broadcastBody), query: fc.constant('') }),
    fc.record({
      target: fc.constant<BodyTarget>('broadcast.single'),
      body: bodySpec(loose),
      query: fc.tuple(fc.oneof(fc.constantFrom('room', '%E0%A4%A', 'a%2Fb'), token(1, 10)), fc.oneof(fc.constantFrom('ev', '%zz'), token(1, 10)), fc.constantFrom('', '?private=true')).map(([t, e, q]) => `/${t}/events/${e}${q}`),
    }),
  );

// ---------------------------------------------------------------------------------------------------------------
// Properties 4 and 5: realtime frames and filters

const REALTIME_COLUMNS = ['id', 'session_id', 'seq', 'event_type', 'payload', 'created_at', 'user_id', 'title', 'status'];
const RT_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'is', 'like', 'ilike', 'cs', 'EQ', '', 'eq.'];

export const realtimeCondition = (cast: Cast) =>
  fc
    .record({
      column: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...REALTIME_COLUMNS) }, { weight: 1, arbitrary: fc.constantFrom(' session_id', 'session_id ', 'SESSION_ID', 'nope', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty') }, { weight: 1, arbitrary: mixedString(8) }),
      eq: fc.constantFrom('=', '=', '=', '=', '==', ''),
      not: fc.boolean(),
      op: fc.constantFrom(...RT_OPS),
      value: fc.oneof({ weight: 4, arbitrary: filterValue(cast) }, { weight: 3, arbitrary: inList(cast) }, { weight: 1, arbitrary: fc.constantFrom(...IS_VALUES) }),
      quoteValue: fc.constantFrom('', '', '', '"', "'"),
    })
    .map(({ column, eq, not, op, value, quoteValue }) => `${column}${eq}${not ? 'not.' : ''}${op}.${quoteValue}${value}${quoteValue}`);

const pin = (cast: Cast, table: 'sessions' | 'session_events') =>
  fc.oneof(
    fc.constantFrom(...cast.sessionsB).map((id) => `${table === 'sessions' ? 'id' : 'session_id'}=eq.${id}`),
    fc.subarray([...cast.sessionsB, cast.sessionS, cast.sessionsA[0]!], { minLength: 1 }).map((ids) => `${table === 'sessions' ? 'id' : 'session_id'}=in.(${ids.join(',')})`),
    ...(table === 'sessions' ? [fc.constant(`user_id=eq.${cast.userB}`)] : []),
  );

/** A filter for `table`: pinned or not, with typed extra conditions, or random conditions, or junk. */
export const typedRealtimeFilter = (cast: Cast, table: 'sessions' | 'session_events') =>
  fc
    .tuple(
      fc.option(pin(cast, table), { freq: 10, nil: undefined }),
      fc.array(typedCondition(cast, table, ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in']).map(([c, v]) => `${c}=${v}`), { maxLength: 2 }),
      fc.boolean(),
    )
    .map(([p, more, pinFirst]) => (pinFirst ? [p, ...more] : [...more, p]).filter((x) => x !== undefined).join(','));

export const realtimeFilter = (cast: Cast) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom<'sessions' | 'session_events'>('sessions', 'session_events').chain((t) => typedRealtimeFilter(cast, t)) },
    { weight: 2, arbitrary: fc.constantFrom(`session_id=eq.${cast.sessionsB[0]}`, `session_id=in.(${cast.sessionsB.join(',')})`, `id=eq.${cast.sessionsB[1]}`, `user_id=eq.${cast.userB}`, '', ' ') },
    { weight: 8, arbitrary: fc.tuple(fc.array(realtimeCondition(cast), { minLength: 1, maxLength: 3 }), fc.constantFrom(',', ', ', ',,', '&', ' and ')).map(([cs, sep]) => cs.join(sep)) },
    { weight: 1, arbitrary: mixedString(30) },
    { weight: 1, arbitrary: long([`session_id=eq.${cast.sessionsB[0]},`, 'seq=gt.1,', '(', '"'], 4000).map(render) },
  );

export interface BindingSpec {
  event?: unknown;
  schema?: unknown;
  table?: unknown;
  filter?: unknown;
  select?: unknown;
}

const bindingEvent = fc.oneof({ weight: 20, arbitrary: fc.constantFrom('*', 'INSERT', 'UPDATE', 'DELETE') }, { weight: 1, arbitrary: fc.constantFrom('insert', 'ınsert', 'TRUNCATE', '', 'ALL', '**') }, { weight: 1, arbitrary: mixedString(8) });
const bindingSchema = fc.oneof({ weight: 25, arbitrary: fc.constant('public') }, { weight: 1, arbitrary: fc.constantFrom('realtime', 'mobvibe', 'PUBLIC', '', 'public ', '*') });
const bindingTable = fc.oneof({ weight: 25, arbitrary: fc.constantFrom('session_events', 'sessions') }, { weight: 1, arbitrary: fc.constantFrom('*', 'messages', 'schema_migrations', 'session_seq', '', '__proto__', 'constructor', 'toString') });
const rarely = <T>(arb: fc.Arbitrary<T>, oneIn: number) => fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

/**
 * One postgres_changes binding. `strictTypes`: fields of the right JSON types (so the filter itself is what is
 * fuzzed), with a filter for the binding's own table most of the time; otherwise fields of any type.
 */
export const binding = (cast: Cast, strictTypes: boolean): fc.Arbitrary<BindingSpec> => {
  const loose = fc.jsonValue({ maxDepth: 2 });
  const strict = fc
    .record({ event: bindingEvent, schema: bindingSchema, table: bindingTable, hasFilter: fc.constantFrom(true, true, true, true, true, true, true, true, true, false) })
    .chain(({ hasFilter, ...b }) =>
      (hasFilter
        ? fc.oneof(
            { weight: 6, arbitrary: b.table === 'sessions' || b.table === 'session_events' ? typedRealtimeFilter(cast, b.table) : realtimeFilter(cast) },
            { weight: 3, arbitrary: realtimeFilter(cast) },
          )
        : fc.constant(undefined)
      ).map((filter): BindingSpec => (filter === undefined ? b : { ...b, filter })),
    );
  const base = strictTypes
    ? strict
    : fc.oneof(
        { weight: 3, arbitrary: strict },
        {
          weight: 1,
          arbitrary: fc.record({ event: fc.oneof(bindingEvent, loose), schema: fc.oneof(bindingSchema, loose), table: fc.oneof(bindingTable, loose), filter: fc.oneof(realtimeFilter(cast), loose) }, { requiredKeys: [] }),
        },
      );
  return base.chain((b) => rarely(fc.constantFrom<unknown>('*', 'id', ['id']), 20).map((select): BindingSpec => (select === undefined ? b : { ...b, select })));
};

const topicText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('realtime:room', 'realtime:fuzz', 'realtime:session:x', 'phoenix', 'realtime:', 'room', 'realtime:' + 'x'.repeat(246), 'realtime:' + 'x'.repeat(247)) },
  { weight: 2, arbitrary: mixedString(12).map((s) => `realtime:${s}`) },
  { weight: 1, arbitrary: mixedString(12) },
);
const eventText = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('phx_join', 'phx_leave', 'heartbeat', 'broadcast', 'presence', 'access_token', 'postgres_changes', 'phx_reply', 'phx_close', 'phx_error', 'system', 'presence_state') },
  { weight: 1, arbitrary: mixedString(10) },
);
const refValue = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 999 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, -1, 1.5, 2 ** 53, '', 'x'.repeat(256), true, [], {}) },
);

/**
 * A join payload: config sections, postgres_changes bindings, access tokens of every kind. `strictTypes`: every
 * field of the type realtime-js sends (so the bindings and tokens are what is fuzzed); otherwise any shape.
 */
export const joinPayload = (cast: Cast, strictTypes: boolean) => {
  const any1 = fc.jsonValue({ maxDepth: 1 });
  const token = fc.oneof({ weight: 6, arbitrary: tokenSpec(cast, { B: 4, anon: 1, service: 1, expiredB: 1, signed: 2, junk: 2 }).map(tokenRef) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, {}, '') });
  if (strictTypes) {
    return fc.record(
      {
        config: fc.record({
          broadcast: fc.record({ ack: fc.boolean(), self: fc.boolean() }),
          presence: fc.record({ key: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })), enabled: fc.boolean() }, { requiredKeys: ['key'] }),
          private: fc.constantFrom(false, false, false, true),
          postgres_changes: fc.array(binding(cast, true), { maxLength: 3 }),
        }),
        access_token: token,
      },
      { requiredKeys: ['config'] },
    );
  }
  return fc.record(
    {
      config: fc.oneof(
        {
          weight: 8,
          arbitrary: fc.record(
            {
              broadcast: fc.oneof(fc.record({ ack: fc.oneof(fc.boolean(), any1), self: fc.oneof(fc.boolean(), any1) }, { requiredKeys: [] }), any1),
              presence: fc.oneof(fc.record({ key: fc.oneof(fc.string(), fc.constant('k'.repeat(256)), any1), enabled: fc.oneof(fc.boolean(), any1) }, { requiredKeys: [] }), any1),
              private: fc.oneof(fc.boolean(), any1),
              postgres_changes: fc.oneof({ weight: 6, arbitrary: fc.array(binding(cast, false), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
            },
            { requiredKeys: [] },
          ),
        },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      ),
      access_token: token,
      user_token: fc.constantFrom<unknown>(undefined, 'x', 1),
    },
    { requiredKeys: [] },
  );
};

export type FrameSpec =
  | { json: unknown }
  | { array: unknown[] }
  | { envelope: Record<string, unknown> }
  | { join: { topic: string; ref: unknown; joinRef: unknown; payload: unknown; form: 'array' | 'object' } }
  | { push: { topic: string; ref: string; joinRef: string | null; event: string; payload: unknown; form: 'array' | 'object' } }
  | { text: string }
  | { deep: { open: string; depth: number; balanced: boolean } }
  | { invalidUtf8: Uint8Array }
  | { binary: Uint8Array }
  | { kind3: { lengths: number[]; encoding: number; parts: string[]; body: string; declaredExtra: number } }
  | { big: number };

const FRIENDLY_TOPICS = (cast: Cast) => ['realtime:room', 'realtime:fuzz', `realtime:session:${cast.sessionsB[0]}`, 'realtime:room2'];

/** A well-formed push (string refs, a real topic, a known event) with a payload near what the event expects. */
const push = (cast: Cast) =>
  fc
    .record({
      topic: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FRIENDLY_TOPICS(cast), 'phoenix') }, { weight: 1, arbitrary: topicText }),
      ref: fc.nat({ max: 999 }).map(String),
      joinRef: fc.oneof(fc.constant(null), fc.nat({ max: 999 }).map(String)),
      event: fc.constantFrom('broadcast', 'broadcast', 'presence', 'access_token', 'heartbeat', 'phx_leave', 'postgres_changes', 'phx_reply', 'system', 'phx_close', 'custom'),
      form: fc.constantFrom<'array' | 'object'>('array', 'object'),
    })
    .chain((p) =>
      (p.event === 'broadcast'
        ? fc.oneof(
            fc.record({ type: fc.constant('broadcast'), event: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('ev', 'x') }, { weight: 1, arbitrary: fc.string({ maxLength: 300 }) }), payload: fc.jsonValue({ maxDepth: 4 }) }, { requiredKeys: ['type', 'event'] }),
            fc.jsonValue({ maxDepth: 2 }).map((v) => ({ type: 'broadcast', event: v })),
          )
        : p.event === 'presence'
          ? fc.record({ type: fc.constant('presence'), event: fc.constantFrom('track', 'track', 'untrack', 'x'), payload: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: ['event'] })
          : p.event === 'access_token'
            ? fc.record({ access_token: fc.oneof({ weight: 3, arbitrary: tokenSpec(cast, { B: 3, A: 1, expiredB: 1, signed: 2, junk: 1, anon: 1 }).map(tokenRef) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }) })
            : fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
      ).map((payload): FrameSpec => ({ push: { ...p, payload } })),
    );

/** Frames of every kind for property 4. */
export const frameSpec = (cast: Cast) =>
  fc.oneof(
    { weight: 20, arbitrary: push(cast) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((json): FrameSpec => ({ json })) },
    { weight: 2, arbitrary: fc.array(fc.oneof(refValue, topicText, eventText, fc.jsonValue({ maxDepth: 2 })), { maxLength: 7 }).map((array): FrameSpec => ({ array })) },
    {
      weight: 2,
      arbitrary: fc
        .record({ topic: fc.oneof(topicText, fc.jsonValue({ maxDepth: 1 })), event: fc.oneof(eventText, fc.jsonValue({ maxDepth: 1 })), payload: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ type: fc.constant('broadcast'), event: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })), payload: fc.jsonValue({ maxDepth: 2 }) }), fc.record({ event: fc.constantFrom('track', 'untrack', 'x'), payload: fc.jsonValue({ maxDepth: 2 }) }), fc.record({ access_token: fc.oneof(tokenSpec(cast, { B: 2, junk: 1, signed: 1 }).map(tokenRef), fc.jsonValue({ maxDepth: 1 })) })), ref: refValue, join_ref: refValue }, { requiredKeys: [] })
        .map((envelope): FrameSpec => ({ envelope })),
    },
    {
      weight: 16,
      arbitrary: fc
        .record({
          topic: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FRIENDLY_TOPICS(cast)) }, { weight: 1, arbitrary: topicText }),
          ref: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: 999 }).map(String) }, { weight: 1, arbitrary: refValue }),
          joinRef: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: 999 }).map(String) }, { weight: 1, arbitrary: refValue }),
          payload: fc.oneof({ weight: 4, arbitrary: joinPayload(cast, true) }, { weight: 2, arbitrary: joinPayload(cast, false) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
          form: fc.constantFrom<'array' | 'object'>('array', 'object') })
        .map((join): FrameSpec => ({ join })),
    },
    { weight: 1, arbitrary: fc.oneof(mixedString(30), fc.constantFrom('', '[]', '{}', '[null,null,"phoenix","heartbeat",{}]', 'null', '[1,2,3,4,5]', '[,]')).map((text): FrameSpec => ({ text })) },
    { weight: 1, arbitrary: deepText.map((d): FrameSpec => d) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Uint8Array.from([0x22, ...b, 0xff, 0x22])).map((invalidUtf8): FrameSpec => ({ invalidUtf8 })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary): FrameSpec => ({ binary })) },
    {
      weight: 6,
      arbitrary: fc
        .record({
          parts: fc.tuple(fc.oneof(fc.nat({ max: 99 }).map(String), fc.constant('')), fc.oneof(fc.nat({ max: 99 }).map(String), fc.constant('')), fc.oneof(fc.constantFrom(...FRIENDLY_TOPICS(cast)), topicText), fc.oneof(fc.constantFrom('ev', ''), mixedString(8)), fc.oneof(fc.constantFrom('', '{}', '{"a":1}', '[]', '{'), fc.json({ maxDepth: 2 }))).map((p) => [...p]),
          tamper: fc.option(fc.tuple(fc.nat({ max: 4 }), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
          encoding: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
          body: fc.oneof(fc.json({ maxDepth: 3 }), mixedString(20), fc.constant('['.repeat(100))),
          declaredExtra: fc.constantFrom(0, 0, 0, 1, 50),
        })
        .map(({ parts, tamper, encoding, body, declaredExtra }): FrameSpec => {
          const lengths = parts.map((p) => Buffer.byteLength(p, 'utf8'));
          if (tamper) lengths[tamper[0]] = tamper[1];
          return { kind3: { lengths, encoding, parts, body, declaredExtra } };
        }),
    },
    { weight: 1, arbitrary: fc.constantFrom(1024 * 1024 - 64, 1024 * 1024 + 1, 300 * 1024).map((big): FrameSpec => ({ big })) },
  );

export const wsCase = (cast: Cast) =>
  fc.record({
    vsn: fc.constantFrom('1.0.0', '2.0.0'),
    apikey: tokenSpec(cast, { anon: 3, B: 2, service: 1 }),
    frames: fc.array(frameSpec(cast), { minLength: 1, maxLength: 5 }),
  });

export const filterCase = (cast: Cast) =>
  fc.record({
    vsn: fc.constantFrom('1.0.0', '2.0.0'),
    topic: fc.oneof(fc.constantFrom('realtime:fuzz-filters', `realtime:session:${cast.sessionsB[0]}`), mixedString(10).map((s) => `realtime:${s}`)),
    accessToken: fc.oneof({ weight: 8, arbitrary: tokenSpec(cast, { B: 1 }) }, { weight: 2, arbitrary: tokenSpec(cast, { A: 1, anon: 1, service: 1, signed: 2, expiredB: 1, junk: 1 }) }, { weight: 1, arbitrary: fc.constant(undefined) }),
    bindings: fc.oneof({ weight: 4, arbitrary: fc.array(binding(cast, true), { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(binding(cast, true), { minLength: 2, maxLength: 3 }) }),
  });

// ---------------------------------------------------------------------------------------------------------------
// Property 1: raw request lines and headers

const KNOWN_PATHS = [
  '/health', '/rest/v1/sessions', '/rest/v1/session_events', '/rest/v1/rpc/append_session_events', '/rest/v1/', '/rest/v1/rpc/', '/rest/v1/nope',
  '/realtime/v1/api/broadcast', '/realtime/v1/api/broadcast/room/events/ev', '/realtime/v1/websocket', '/realtime/v1/api', '/app', '/app/', '/app/index.html', '/', '/favicon.ico',
];
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('rest', 'v1', 'sessions', 'session_events', 'rpc', 'append_session_events', 'realtime', 'api', 'broadcast', 'websocket', 'health', 'app', 'events', 'index.html', '..', '.', '', '.env', 'room') },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@'.split('')), maxLength: 10 }) },
  { weight: 2, arbitrary: percentEscape },
  { weight: 1, arbitrary: mostlyPrintableString(6) },
);
const originPath = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...KNOWN_PATHS), fc.array(segment, { maxLength: 2 })).map(([p, more]) => (more.length ? `${p}/${more.join('/')}` : p)) },
  { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/${s.join('/')}`) },
);
const queryPart = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.array(fc.tuple(fc.oneof(fc.constantFrom('select', 'apikey', 'vsn', 'id', 'limit'), token(1, 6)), fc.oneof(percentEscape, printableString(8).map(encodeQueryPart), fc.constantFrom('eq.1', '*', ''))), { minLength: 1, maxLength: 3 }).map((ps) => `?${ps.map(([k, v]) => `${k}=${v}`).join('&')}`) },
  { weight: 1, arbitrary: mixedString(10).map((s) => `?${s}`) },
);
const fragment = fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: printableString(6).map((s) => `#${s}`) });
const authority = fc.oneof(
  fc.ipV4(),
  fc.domain(),
  fc.constantFrom('999.999.999.999', '999.999.999.999:99999', '[::1]', '[::1]:8080', '[zz]', '[', 'h:99999', 'h:-1', 'user:pw@h', '', 'a b', '%41', 'localhost:0', '0', '256.1.1.1', '1.2.3', 'xn--80ak6aa92e.com', '..'),
  printableString(10),
);

export interface RawHttpCase {
  method: Piece;
  target: Piece[];
  version: string;
  eol: string;
  host: 'first' | 'none' | 'duplicate';
  headers: Array<[Piece, Piece]>;
  /** WebSocket handshake headers appended after `headers` (so upgrades are fuzzed too). */
  handshake?: { key: string; version: string; connection: string };
  body: string;
}

const HEADER_NAMES = [
  'Content-Type', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'apikey', 'x-api-key', 'Authorization', 'Prefer',
  'Accept', 'Expect', 'Accept-Profile', 'Content-Profile', 'X-Forwarded-For', 'Range', 'If-None-Match', 'Cookie', 'Origin', 'Accept-Encoding', 'TE', 'Trailer', 'Host', 'Keep-Alive', 'Proxy-Connection',
];
const headerValueFor = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('application/json', '0', '5', '-1', 'chunked', 'gzip, chunked', 'close', 'keep-alive', 'Upgrade', 'websocket', '13', 'dGhlIHNhbXBsZSBub25jZQ==', '100-continue', 'x-continue', `Bearer ${KEYS.anonKey}`, KEYS.anonKey, KEYS.serviceRoleKey, 'Bearer', 'Basic dTpw', 'count=exact', 'bytes=0-1', '*', 'public', 'other', '127.0.0.1, 10.0.0.1', 'trailers', '') },
  { weight: 3, arbitrary: mostlyPrintableString(24) },
  { weight: 1, arbitrary: mixedString(12) },
  { weight: 1, arbitrary: long(['x', 'ä', '\t', 'a, '], 24_000) },
);

export const rawHttpCase: fc.Arbitrary<RawHttpCase> = fc.record({
  method: fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PRI', 'get', 'M-SEARCH', 'PROPFIND', 'QUERY', 'SOURCE') },
    { weight: 2, arbitrary: token(1, 12) },
    { weight: 1, arbitrary: mixedString(8) },
    { weight: 1, arbitrary: long(['A'], 20_000) },
  ),
  target: fc.oneof(
    { weight: 6, arbitrary: fc.tuple(originPath, queryPart, fragment).map((parts) => [...parts] as Piece[]) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('http', 'https', 'ws', 'x+y', 'H', 'HTTP', '1http', 'http:'), authority, fc.oneof(originPath, fc.constant('')), queryPart).map(([s, a, p, q]) => [`${s}://${a}`, p, q] as Piece[]) },
    { weight: 2, arbitrary: fc.constantFrom('*', '//x/y', '//999.999.999.999/health', 'x', 'http:relative', 'host:80', '', ' ', 'http://host#frag', '/%', '/rest/v1/%', '/rest/v1/sess%E0%A4%A', '/app/%2e%2e/%2e%2e/etc/passwd', '/app/..%2F..%2Fpackage.json').map((t) => [t] as Piece[]) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/rest/v1/sessions?select=', '/health/', '/', '/app/', '/rest/v1/'), long(['a', '%41', '/a', '?x=1&', 'id,'], 40_000)).map(([p, l]) => [p, l] as Piece[]) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom('/realtime/v1/websocket', '/realtime/v1/websocket/', 'http://999.999.999.999/realtime/v1/websocket', '/realtime/v1/websocket%2F'),
          fc.constantFrom(KEYS.anonKey, KEYS.serviceRoleKey, '', 'x', `${KEYS.anonKey}x`, undefined),
          fc.constantFrom('1.0.0', '2.0.0', '3.0.0', '', '2', undefined),
          fc.constantFrom('', '&apikey=x', '&vsn=2.0.0', '&%zz'),
        )
        .map(([p, key, vsn, extra]) => [p, `?${key === undefined ? '' : `apikey=${key}`}${vsn === undefined ? '' : `&vsn=${vsn}`}${extra}`] as Piece[]),
    },
  ),
  version: fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0') },
    { weight: 2, arbitrary: fc.constantFrom('HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/1', 'HTTP/1.1 ', '', 'HTTP/11.1', 'FOO/1.1', 'HTTP/3', 'HTTP/1.01') },
  ),
  eol: fc.oneof({ weight: 15, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r') }),
  host: fc.constantFrom<'first' | 'none' | 'duplicate'>('first', 'first', 'first', 'first', 'none', 'duplicate'),
  headers: fc.array(
    fc.tuple(
      fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...HEADER_NAMES) }, { weight: 4, arbitrary: token(1, 16) }, { weight: 1, arbitrary: mixedString(10) }, { weight: 1, arbitrary: long(['X'], 20_000) }),
      headerValueFor,
    ),
    { maxLength: 8 },
  ),
  handshake: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.record({
        key: fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')) }, { weight: 1, arbitrary: fc.constantFrom('', 'x', 'dGhlIHNhbXBsZSBub25jZQ', '====') }),
        version: fc.constantFrom('13', '13', '13', '8', '', '13, 8'),
        connection: fc.constantFrom('Upgrade', 'Upgrade', 'keep-alive, Upgrade', 'close', 'upgrade'),
      }),
    },
  ),
  body: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) }, { weight: 1, arbitrary: mixedString(20) }),
});

export function renderRawHttp(c: RawHttpCase): Buffer {
  const head: string[] = [`${render(c.method)} ${renderAll(c.target)}${c.version === '' ? '' : ` ${c.version}`}`];
  if (c.host !== 'none') head.push('Host: 127.0.0.1');
  if (c.host === 'duplicate') head.push('Host: example.com');
  for (const [k, v] of c.headers) head.push(`${render(k)}: ${render(v)}`);
  if (c.handshake) head.push(`Connection: ${c.handshake.connection}`, 'Upgrade: websocket', `Sec-WebSocket-Version: ${c.handshake.version}`, `Sec-WebSocket-Key: ${c.handshake.key}`);
  return Buffer.concat([Buffer.from(latin1(head.join(c.eol) + c.eol + c.eol), 'latin1'), Buffer.from(c.body, 'utf8')]);
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Whether Node's parser (or RFC 9112) may refuse the request as unparseable: the only case where closing the
 * connection without an answer is acceptable. Conservative: anything doubtful counts as malformed.
 */
export function isMalformed(c: RawHttpCase): boolean {
  // Node's parser (llhttp) knows a fixed list of methods and refuses any other token.
  if (!TOKEN_RE.test(render(c.method)) || !METHODS.includes(render(c.method))) return true;
  const target = renderAll(c.target);
  if (target === '' || /[\x00-\x20\x7f-\uffff]/.test(target)) return true;
  if (c.version !== 'HTTP/1.1' && c.version !== 'HTTP/1.0') return true;
  if (c.eol !== '\r\n') return true;
  if (c.host !== 'first' && c.version === 'HTTP/1.1') return true; // RFC 9112 §3.2: exactly one Host
  for (const [k, v] of c.headers) {
    const name = render(k);
    if (!TOKEN_RE.test(name)) return true;
    if (/^(content-length|transfer-encoding|host)$/i.test(name)) return true; // framing and Host: the parser decides
    if (/[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/.test(render(v))) return true;
  }
  return false;
}

/** A request the server treats as a WebSocket upgrade (or may): it has an Upgrade header, or is a CONNECT. */
export const isUpgradeLike = (c: RawHttpCase): boolean => render(c.method) === 'CONNECT' || c.handshake !== undefined || c.headers.some(([k]) => /^upgrade$/i.test(render(k)));
