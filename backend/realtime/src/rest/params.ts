/**
 * A request's query string and Prefer header, parsed as PostgREST parses them (its ApiRequest/QueryParams.hs):
 * field names (quoted or `a-b` dashed), JSON paths `->`/`->>`, filters `[not.]op.value` with quantifiers and
 * full-text languages, `in` lists with PostgREST's quoting, logic trees `or=(…)`/`and=(…)` nested, order terms
 * and select lists with aliases, casts and embedded resources (with their own filters, order and paging).
 * Syntax only: columns and relationships are checked against the schema cache in sql.ts. What this server does
 * not implement (spread embedding, aggregates) is a 400 that names it, never ignored.
 */
import { ApiError, badRequest } from '../errors.js';

/** Operators that take `(any)`/`(all)` quantifiers, and their SQL. */
export const QUANT_OPS = { eq: '=', gte: '>=', gt: '>', lte: '<=', lt: '<', like: 'like', ilike: 'ilike', match: '~', imatch: '~*' } as const;
/** The other binary operators, and their SQL. */
export const SIMPLE_OPS = { neq: '<>', cs: '@>', cd: '<@', ov: '&&', sl: '<<', sr: '>>', nxr: '&<', nxl: '&>', adj: '-|-' } as const;
/** Full-text operators and the function that turns the value into a tsquery. */
export const FTS_OPS = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' } as const;
const IS_VALUES = ['null', 'not_null', 'true', 'false', 'unknown'] as const;
export type IsValue = (typeof IS_VALUES)[number];
const OPERATOR_NAMES = ['in', 'is', 'isdistinct', ...Object.keys(FTS_OPS), ...Object.keys(QUANT_OPS), ...Object.keys(SIMPLE_OPS)];

export interface JsonStep {
  arrow: '->' | '->>';
  /** A key, or an array index (`->0`, `->-1`) when `index`. */
  key: string;
  index: boolean;
}

/** A column, maybe followed by a JSON path: `payload->output->>0`. */
export interface Field {
  name: string;
  json: JsonStep[];
}

export type Operation =
  | { kind: 'compare'; op: keyof typeof QUANT_OPS | keyof typeof SIMPLE_OPS; quant: 'any' | 'all' | undefined; value: string }
  | { kind: 'in'; values: string[] }
  | { kind: 'is'; value: IsValue }
  | { kind: 'isdistinct'; value: string }
  | { kind: 'fts'; op: keyof typeof FTS_OPS; language: string | undefined; value: string };

export interface Filter {
  field: Field;
  negate: boolean;
  operation: Operation;
}

/** A filter, or an `and`/`or` group of conditions (`not.or=(…)` negates the group). */
export type Condition = { kind: 'filter'; filter: Filter } | { kind: 'group'; op: 'and' | 'or'; negate: boolean; children: Condition[] };

export type SelectItem =
  | { kind: 'star' }
  | { kind: 'field'; field: Field; alias: string | undefined; cast: string | undefined }
  | Embed;

/**
 * An embedded resource, `alias:name!hint!inner(select…)`: a table related to this one by a foreign key, its rows
 * nested under `alias` (or `name`). `hint` names the foreign key (constraint or column) when several relate them.
 */
export interface Embed {
  kind: 'embed';
  name: string;
  alias: string | undefined;
  hint: string | undefined;
  /** `!inner`: only rows of the parent that have a matching embedded row. */
  inner: boolean;
  select: SelectItem[];
}

/** Filters, order and paging of an embedded resource (`rel.col=eq.1`, `rel.order=`, `rel.limit=`, `rel.or=`). */
export interface EmbedQuery {
  where: Condition[];
  order: Order[];
  limit: number | undefined;
  offset: number | undefined;
}

export interface Order {
  field: Field;
  descending: boolean;
  nulls: 'first' | 'last' | undefined;
}

/** A request's query string, parsed and checked for syntax (not yet against a table). */
export interface RestQuery {
  select: SelectItem[];
  /** Per embedded resource, by its path of aliases or names joined with dots (`app_tasks`, `app_tasks.labels`). */
  embeds: Map<string, EmbedQuery>;
  /** Every top-level filter and logic tree: all must hold. */
  where: Condition[];
  order: Order[];
  limit: number | undefined;
  offset: number | undefined;
  onConflict: string[] | undefined;
  columns: string[] | undefined;
}

const RESERVED = new Set(['select', 'order', 'limit', 'offset', 'on_conflict', 'columns']);
const LOGIC_KEYS = new Set(['or', 'and', 'not.or', 'not.and']);

/** A parse failure at a position of one parameter; becomes a 400 PGRST100 naming the parameter. */
class Syntax extends Error {}

/** A cursor over one parameter's text. */
class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(n = 0): string {
    return this.s[this.i + n] ?? '';
  }
  startsWith(text: string): boolean {
    return this.s.startsWith(text, this.i);
  }
  eat(text: string): boolean {
    if (!this.startsWith(text)) return false;
    this.i += text.length;
    return true;
  }
  expect(text: string, what = `"${text}"`): void {
    if (!this.eat(text)) this.fail(`expected ${what}`);
  }
  spaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  fail(message: string): never {
    const near = this.done ? 'at the end' : `at "${this.s.slice(this.i, this.i + 20)}"`;
    throw new Syntax(`${message} ${near} (character ${this.i + 1})`);
  }
}

const IDENT_CHAR = /[\p{L}\p{N}_$ ]/u;

/** `"quoted \" value"`: backslash escapes any character. */
function quoted(c: Cursor): string {
  c.expect('"');
  let out = '';
  while (!c.done && c.peek() !== '"') {
    if (c.peek() === '\\' && c.i + 1 < c.s.length) c.i++;
    out += c.peek();
    c.i++;
  }
  c.expect('"', 'a closing double quote');
  return out;
}

/** Letters, digits, `_`, `$` and spaces, trimmed (PostgREST's pIdentifier). */
function identifier(c: Cursor): string {
  const start = c.i;
  while (!c.done && IDENT_CHAR.test(c.peek())) c.i++;
  const name = c.s.slice(start, c.i).trim();
  if (name === '') c.fail('expected a name (letters, digits, _ or $)');
  return name;
}

/** A field name: quoted, or identifiers joined by dashes that do not start an arrow. */
function fieldName(c: Cursor): string {
  if (c.peek() === '"') return quoted(c);
  let name = identifier(c);
  while (c.peek() === '-' && c.peek(1) !== '>') {
    c.i++;
    name += `-${identifier(c)}`;
  }
  return name;
}

const JSON_KEY_STOP = new Set(['(', '-', ':', '.', ',', '>', ')']);

function jsonPath(c: Cursor): JsonStep[] {
  const steps: JsonStep[] = [];
  for (;;) {
    const arrow = c.eat('->>') ? '->>' : c.eat('->') ? '->' : undefined;
    if (!arrow) return steps;
    const index = /^-?\d+/.exec(c.s.slice(c.i));
    const after = index ? c.s.slice(c.i + index[0].length) : '';
    if (index && (after === '' || /^(->|::|\.|,|\))/.test(after))) {
      c.i += index[0].length;
      steps.push({ arrow, key: String(Number(index[0])), index: true });
      continue;
    }
    if (c.peek() === '"') {
      steps.push({ arrow, key: quoted(c), index: false });
      continue;
    }
    let key = '';
    for (;;) {
      const start = c.i;
      while (!c.done && !JSON_KEY_STOP.has(c.peek())) c.i++;
      const part = c.s.slice(start, c.i).trim();
      if (part === '') c.fail(`expected a JSON key after ${arrow}`);
      key += part;
      if (c.peek() === '-' && c.peek(1) !== '>') {
        c.i++;
        key += '-';
        continue;
      }
      break;
    }
    steps.push({ arrow, key, index: false });
  }
}

function field(c: Cursor): Field {
  c.spaces();
  const name = fieldName(c);
  const json = jsonPath(c);
  c.spaces();
  return { name, json };
}

/** `(a,"b,c",d)`: an element is quoted only when a closing quote ends it; otherwise it runs to `,` or `)`. */
function list(c: Cursor): string[] {
  c.spaces();
  c.expect('(', 'a list in parentheses, like (a,b,c)');
  c.spaces(); // as PostgREST's lexeme: blanks after "(" are dropped, those inside an element kept
  const values: string[] = [];
  for (;;) {
    values.push(listElement(c, false));
    if (!c.eat(',')) break;
  }
  c.expect(')', 'a closing parenthesis');
  c.spaces();
  return values;
}

/** A value inside a list or a logic tree: quoted, a `{…}` array literal (logic trees only), or up to `,`/`)`. */
function listElement(c: Cursor, inLogic: boolean): string {
  if (c.peek() === '"') {
    const save = c.i;
    try {
      const value = quoted(c);
      if (c.done || c.peek() === ',' || c.peek() === ')') return value;
    } catch {
      // not a quoted element after all
    }
    c.i = save;
  }
  if (inLogic && c.peek() === '{') {
    const close = c.s.indexOf('}', c.i);
    const open = c.s.indexOf('{', c.i + 1);
    if (close > 0 && (open < 0 || open > close)) {
      const value = c.s.slice(c.i, close + 1);
      c.i = close + 1;
      return value;
    }
  }
  const start = c.i;
  while (!c.done && c.peek() !== ',' && c.peek() !== ')') c.i++;
  return c.s.slice(start, c.i);
}

/** `[not.]op[(quantifier|language)].value`; `value` reads what follows the operator. */
function operation(c: Cursor, value: (c: Cursor) => string): { negate: boolean; operation: Operation } {
  const negate = c.eat('not.');
  const start = c.i;
  while (!c.done && /[a-z]/.test(c.peek())) c.i++;
  const op = c.s.slice(start, c.i);
  if (!OPERATOR_NAMES.includes(op)) {
    c.i = start;
    c.fail(`expected an operator (${OPERATOR_NAMES.join(', ')}), optionally after not.`);
  }
  if (op === 'in') {
    c.expect('.');
    const values = list(c);
    // PostgREST reads `in.()` as the empty list.
    return { negate, operation: { kind: 'in', values: values.length === 1 && values[0] === '' ? [] : values } };
  }
  if (op === 'is') {
    c.expect('.');
    const start = c.i;
    const word = IS_VALUES.find((v) => c.s.slice(c.i, c.i + v.length).toLowerCase() === v && !/[a-z_]/i.test(c.s[c.i + v.length] ?? ''));
    if (!word) c.fail(`is. expects one of ${IS_VALUES.join(', ')}`);
    c.i = start + word.length;
    return { negate, operation: { kind: 'is', value: word } };
  }
  if (op === 'isdistinct') {
    c.expect('.');
    return { negate, operation: { kind: 'isdistinct', value: value(c) } };
  }
  if (op in FTS_OPS) {
    let language: string | undefined;
    if (c.eat('(')) {
      language = identifier(c);
      c.expect(')');
    }
    c.expect('.');
    return { negate, operation: { kind: 'fts', op: op as keyof typeof FTS_OPS, language, value: value(c) } };
  }
  let quant: 'any' | 'all' | undefined;
  if (op in QUANT_OPS && c.eat('(')) {
    quant = c.eat('any') ? 'any' : c.eat('all') ? 'all' : c.fail('expected (any) or (all)');
    c.expect(')');
  }
  c.expect('.', `"." after ${op}`);
  return { negate, operation: { kind: 'compare', op: op as keyof typeof QUANT_OPS, quant, value: value(c) } };
}

const restOf = (c: Cursor): string => {
  const v = c.s.slice(c.i);
  c.i = c.s.length;
  return v;
};

/** `or(a.eq.1,and(b.gt.2,not.c.is.null))` (the key's operator prefixed to its value). */
function logicTree(c: Cursor): Condition {
  c.spaces();
  const save = c.i;
  const negate = c.eat('not.');
  const op = c.eat('and') ? 'and' : c.eat('or') ? 'or' : undefined;
  if (op && (c.spaces(), c.peek() === '(')) {
    c.expect('(');
    const children: Condition[] = [];
    for (;;) {
      children.push(logicTree(c));
      c.spaces();
      if (!c.eat(',')) break;
    }
    c.spaces();
    c.expect(')', 'a closing parenthesis');
    c.spaces();
    return { kind: 'group', op, negate, children };
  }
  c.i = save;
  const f = field(c);
  if (f.name === 'not' && f.json.length === 0) c.fail('not. negates a group here (not.or(...)); negate a filter after its column: column.not.op.value');
  c.expect('.', `"." after the column ${f.name}`);
  const { negate: not, operation: o } = operation(c, (cur) => listElement(cur, true));
  return { kind: 'filter', filter: { field: f, negate: not, operation: o } };
}

/**
 * A parameter's key: the path of embedded resources it applies to, and what follows — a field (a filter), or
 * `or`/`and`/`not.or`/`not.and`/`order`/`limit`/`offset` of that resource.
 */
function keyPath(key: string): { path: string[]; field: Field | undefined; word: string | undefined } {
  const c = new Cursor(key);
  const names: string[] = [];
  for (;;) {
    c.spaces();
    names.push(fieldName(c));
    if (c.startsWith('->')) {
      const json = jsonPath(c);
      c.spaces();
      if (!c.done) c.fail('unexpected text after the JSON path');
      return { path: names.slice(0, -1), field: { name: names[names.length - 1]!, json }, word: undefined };
    }
    c.spaces();
    if (c.done) break;
    c.expect('.', '"." between an embedded resource and its column');
  }
  const last = names[names.length - 1]!;
  const negated = names.length >= 2 && names[names.length - 2] === 'not' && (last === 'or' || last === 'and');
  if (names.length > 1 && ['or', 'and', 'order', 'limit', 'offset'].includes(last)) {
    return { path: names.slice(0, negated ? -2 : -1), field: undefined, word: negated ? `not.${last}` : last };
  }
  return { path: names.slice(0, -1), field: { name: last, json: [] }, word: undefined };
}

function selectItems(raw: string): SelectItem[] {
  if (raw.trim() === '') return [{ kind: 'star' }];
  const c = new Cursor(raw);
  const items = selectList(c);
  if (!c.done) c.fail('expected "," between select items');
  return items;
}

/** Select items up to the end or a closing parenthesis (an embed's list). */
function selectList(c: Cursor): SelectItem[] {
  const items: SelectItem[] = [];
  for (;;) {
    c.spaces();
    if (c.startsWith('...')) throw new Syntax('spread embedding (...relation) is not supported by this server');
    if (c.eat('*')) items.push({ kind: 'star' });
    else items.push(selectItem(c));
    c.spaces();
    if (!c.eat(',')) return items;
  }
}

function selectItem(c: Cursor): SelectItem {
  let alias: string | undefined;
  const save = c.i;
  const first = fieldName(c);
  if (c.peek() === ':' && c.peek(1) !== ':') {
    c.i++;
    alias = first;
  } else c.i = save;
  if (c.startsWith('count()')) throw new Syntax('aggregate functions (count()) are not allowed by this server');
  const f = field(c);
  if ((c.peek() === '(' || c.peek() === '!') && f.json.length === 0) {
    let hint: string | undefined;
    let inner = false;
    while (c.eat('!')) {
      if (c.eat('inner')) inner = true;
      else if (c.eat('left')) inner = false;
      else hint = fieldName(c);
    }
    c.expect('(', `"(" and the columns of the embedded ${f.name}`);
    const select = c.peek() === ')' ? [] : selectList(c);
    c.spaces();
    c.expect(')', 'a closing parenthesis');
    return { kind: 'embed', name: f.name, alias, hint, inner, select };
  }
  let cast: string | undefined;
  if (c.eat('::')) cast = castType(c);
  if (c.peek() === '.') throw new Syntax(`aggregate functions (${f.name}.sum() and the like) are not allowed by this server`);
  return { kind: 'field', field: f, alias, cast };
}

/** A cast's type: words of letters, digits and `_` (`text`, `double precision`), optionally `[]`. */
function castType(c: Cursor): string {
  const m = /^[A-Za-z_][A-Za-z0-9_ ]*(\[\])?/.exec(c.s.slice(c.i));
  if (!m) c.fail('expected a type name after ::');
  c.i += m[0].length;
  return m[0].trim();
}

function orderTerms(raw: string): Order[] {
  const c = new Cursor(raw);
  const terms: Order[] = [];
  for (;;) {
    const f = field(c);
    if (c.peek() === '(') throw new Syntax(`ordering by an embedded resource (${f.name}(...)) is not supported by this server`);
    const order: Order = { field: f, descending: false, nulls: undefined };
    if (c.eat('.asc')) order.descending = false;
    else if (c.eat('.desc')) order.descending = true;
    if (c.eat('.nullsfirst')) order.nulls = 'first';
    else if (c.eat('.nullslast')) order.nulls = 'last';
    c.spaces();
    if (c.done) {
      terms.push(order);
      return terms;
    }
    if (!c.eat(',')) c.fail('expected asc, desc, nullsfirst, nullslast or ","');
    terms.push(order);
  }
}

function parseCount(raw: string | null, name: string): number | undefined {
  if (raw === null) return undefined;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw badRequest('PGRST100', `${name}=${raw.slice(0, 40)}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  return value;
}

function columnList(raw: string | null, name: string): string[] | undefined {
  if (raw === null) return undefined;
  return parse(name, raw, () => {
    const c = new Cursor(raw);
    const names: string[] = [];
    for (;;) {
      c.spaces();
      names.push(fieldName(c));
      c.spaces();
      if (c.done) return names;
      c.expect(',');
    }
  });
}

/** Runs a parser over one parameter; a syntax error becomes a 400 PGRST100 that names the parameter. */
function parse<T>(name: string, raw: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof Syntax)) throw err;
    throw badRequest('PGRST100', `${name}=${raw.slice(0, 200)}: ${err.message}`);
  }
}

/** Parses a PostgREST query string. Unsupported syntax is a 400 that names what is unsupported. */
export function parseQuery(params: URLSearchParams): RestQuery {
  const where: Condition[] = [];
  const embeds = new Map<string, EmbedQuery>();
  const embed = (path: string[]): EmbedQuery => {
    const key = path.join('.');
    let q = embeds.get(key);
    if (!q) embeds.set(key, (q = { where: [], order: [], limit: undefined, offset: undefined }));
    return q;
  };
  const tree = (key: string, op: string, value: string) =>
    parse(key, value, () => {
      const c = new Cursor(`${op}${value}`);
      const t = logicTree(c);
      if (!c.done) c.fail('unexpected text after the logic tree');
      return t;
    });
  for (const [key, value] of params) {
    if (RESERVED.has(key)) continue;
    if (LOGIC_KEYS.has(key)) {
      where.push(tree(key, key, value));
      continue;
    }
    const { path, field: f, word } = parse(key, key, () => keyPath(key));
    const conditions = path.length > 0 ? embed(path).where : where;
    if (word === 'order') embed(path).order = value === '' ? [] : parse(key, value, () => orderTerms(value));
    else if (word === 'limit') embed(path).limit = parseCount(value, key);
    else if (word === 'offset') embed(path).offset = parseCount(value, key);
    else if (word !== undefined) conditions.push(tree(key, word, value));
    else {
      const { negate, operation: o } = parse(key, value, () => {
        const c = new Cursor(value);
        const out = operation(c, restOf);
        if (!c.done) c.fail('unexpected text after the value');
        return out;
      });
      conditions.push({ kind: 'filter', filter: { field: f!, negate, operation: o } });
    }
  }
  const select = params.get('select');
  const order = params.get('order');
  return {
    select: select === null ? [{ kind: 'star' }] : parse('select', select, () => selectItems(select)),
    embeds,
    where,
    order: order === null || order === '' ? [] : parse('order', order, () => orderTerms(order)),
    limit: parseCount(params.get('limit'), 'limit'),
    offset: parseCount(params.get('offset'), 'offset'),
    onConflict: columnList(params.get('on_conflict'), 'on_conflict'),
    columns: columnList(params.get('columns'), 'columns'),
  };
}

/** The directives of the Prefer header(s) this server honours. */
export interface Prefer {
  /** `return=`: the rows written (`representation`), nothing (`minimal`, the default), or only headers. */
  return: 'representation' | 'minimal' | 'headers-only';
  /** `count=exact|planned|estimated`: every one is answered with the exact count. */
  count: boolean;
  resolution: 'ignore-duplicates' | 'merge-duplicates' | undefined;
  missingDefault: boolean;
  /** `max-affected=N` with `handling=strict`: a PATCH or DELETE touching more rows fails and is rolled back. */
  maxAffected: number | undefined;
  /** `params=single-object`: an RPC's whole JSON body is the function's one json/jsonb argument. */
  singleObject: boolean;
}

const PREFER_VALUES: Record<string, string[]> = {
  return: ['representation', 'minimal', 'headers-only'],
  count: ['exact', 'planned', 'estimated'],
  resolution: ['ignore-duplicates', 'merge-duplicates'],
  missing: ['default', 'null'],
  handling: ['lenient', 'strict'],
  params: ['single-object'],
};

/**
 * Parses Prefer. With `handling=strict` any preference this server does not apply is a 400 (PGRST122, as
 * PostgREST); otherwise, as PostgREST's lenient default, unknown ones are ignored — except those PostgREST would
 * apply and this server does not (`timezone=`, `params=` other than single-object): ignoring them would change the
 * answer, so they are refused.
 */
export function parsePrefer(header: string | string[] | undefined): Prefer {
  const items = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const values = new Map<string, string>();
  const unknown: string[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (PREFER_VALUES[name]?.includes(value) || (name === 'max-affected' && /^\d{1,15}$/.test(value))) values.set(name, value);
    else unknown.push(item);
  }
  const strict = values.get('handling') === 'strict';
  // Ignored by PostgREST too unless its configuration allows them (tx=), or not implemented here (the others).
  const answerChanging = unknown.filter((item) => /^(params|timezone)=/.test(item));
  if (strict && unknown.length > 0) {
    throw new ApiError(400, 'PGRST122', `Invalid preferences given with handling=strict: ${unknown.join(', ')}`);
  }
  if (answerChanging.length > 0) {
    throw new ApiError(400, 'PGRST122', `Preferences this server does not apply: ${answerChanging.join(', ')}`, {
      details: 'a request relying on them would get another answer than from PostgREST, so they are refused rather than ignored',
    });
  }
  return {
    return: (values.get('return') as Prefer['return'] | undefined) ?? 'minimal',
    count: values.has('count'),
    resolution: values.get('resolution') as Prefer['resolution'],
    missingDefault: values.get('missing') === 'default',
    // As PostgREST: only strict handling applies it.
    maxAffected: strict && values.has('max-affected') ? Number(values.get('max-affected')) : undefined,
    singleObject: values.get('params') === 'single-object',
  };
}
