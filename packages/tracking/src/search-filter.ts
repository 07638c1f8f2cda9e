import { InvalidParameterError } from './errors.js';

/**
 * MLflow's search syntax: `<clause> [AND <clause>]...`, a clause being
 * `<type>.<key> <op> <value>` with type metrics|params|tags|attributes (and their aliases),
 * keys with special characters quoted in backticks or double quotes, string values in quotes.
 */
export type EntityKind = 'metric' | 'param' | 'tag' | 'attribute';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN' | 'IS NULL' | 'IS NOT NULL';

export interface Clause {
  kind: EntityKind;
  key: string;
  op: Comparator;
  value: string | number | (string | number)[] | null;
}

export interface OrderTerm {
  kind: EntityKind;
  key: string;
  ascending: boolean;
}

/** What one searchable entity (runs or experiments) offers to filters. */
export interface SearchSchema {
  kinds: readonly EntityKind[];
  stringAttributes: readonly string[];
  numericAttributes: readonly string[];
  /** Alternative attribute names, e.g. `created` → `start_time`. */
  attributeAliases?: Readonly<Record<string, string>>;
}

/** A flattened entity that filters and order terms read from. */
export interface SearchRow {
  attributes: Record<string, string | number | null>;
  metrics?: Record<string, number>;
  params?: Record<string, string>;
  tags: Record<string, string>;
}

const KIND_ALIASES: Record<string, EntityKind> = {
  metric: 'metric',
  metrics: 'metric',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
};

type Token =
  | { t: 'word'; v: string }
  | { t: 'quoted'; v: string; q: string }
  | { t: 'number'; v: number }
  | { t: 'op'; v: string }
  | { t: 'punct'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"' || c === '`') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new InvalidParameterError(`filter: unterminated ${c} quote at position ${i} in "${src}"`);
      out.push({ t: 'quoted', v: src.slice(i + 1, end), q: c });
      i = end + 1;
    } else if (/[<>=!]/.test(c)) {
      const two = src.slice(i, i + 2);
      const op = ['<=', '>=', '!=', '=='].includes(two) ? two : c;
      if (op === '!') throw new InvalidParameterError(`filter: unexpected '!' at position ${i} in "${src}"`);
      out.push({ t: 'op', v: op === '==' ? '=' : op });
      i += op.length;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: 'punct', v: c });
      i++;
    } else if (/[-+\d.]/.test(c) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.test(src.slice(i))) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i))!;
      out.push({ t: 'number', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][\w.:/-]*/.exec(src.slice(i))!;
      out.push({ t: 'word', v: m[0] });
      i += m[0].length;
    } else {
      throw new InvalidParameterError(`filter: unexpected character '${c}' at position ${i} in "${src}"`);
    }
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly src: string,
    private readonly schema: SearchSchema,
  ) {}

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private next(what: string): Token {
    const tok = this.tokens[this.pos++];
    if (!tok) throw new InvalidParameterError(`filter: expected ${what} at the end of "${this.src}"`);
    return tok;
  }
  private isWord(tok: Token | undefined, w: string): boolean {
    return tok?.t === 'word' && tok.v.toUpperCase() === w;
  }
  done(): boolean {
    return this.pos >= this.tokens.length;
  }
  remaining(): Token[] {
    return this.tokens.slice(this.pos);
  }

  /** `<type>.<key>`, possibly followed by a quoted key when the word ends with '.'. */
  identifier(): { kind: EntityKind; key: string } {
    const tok = this.next('an identifier like metrics.loss');
    if (tok.t !== 'word') throw new InvalidParameterError(`filter: expected an identifier like metrics.loss, got ${JSON.stringify(tokText(tok))} in "${this.src}"`);
    const dot = tok.v.indexOf('.');
    let prefix: string;
    let key: string;
    if (dot < 0) {
      // Experiments are filtered by bare attribute names (`name LIKE 'x%'`), as in MLflow.
      prefix = 'attribute';
      key = tok.v;
    } else {
      prefix = tok.v.slice(0, dot);
      key = tok.v.slice(dot + 1);
      if (key === '') {
        const quoted = this.next('a quoted key');
        if (quoted.t !== 'quoted') throw new InvalidParameterError(`filter: expected a key after '${tok.v}' in "${this.src}"`);
        key = quoted.v;
      }
    }
    const kind = KIND_ALIASES[prefix.toLowerCase()];
    if (!kind || !this.schema.kinds.includes(kind)) {
      const allowed = this.schema.kinds.map((k) => `${k}s.`).join(', ');
      throw new InvalidParameterError(`filter: unknown identifier '${tok.v}'; use one of ${allowed} followed by a key`);
    }
    if (kind === 'attribute') key = this.attributeName(key);
    return { kind, key };
  }

  attributeName(raw: string): string {
    const key = this.schema.attributeAliases?.[raw] ?? raw;
    if (!this.schema.stringAttributes.includes(key) && !this.schema.numericAttributes.includes(key)) {
      const names = [...this.schema.stringAttributes, ...this.schema.numericAttributes].join(', ');
      throw new InvalidParameterError(`filter: unknown attribute '${raw}'; attributes are ${names}`);
    }
    return key;
  }

  value(): string | number {
    const tok = this.next('a value');
    if (tok.t === 'number') return tok.v;
    if (tok.t === 'quoted' && tok.q !== '`') return tok.v;
    throw new InvalidParameterError(`filter: expected a number or a quoted string, got ${JSON.stringify(tokText(tok))} in "${this.src}"`);
  }

  clause(): Clause {
    const { kind, key } = this.identifier();
    const opTok = this.next('a comparator');
    let op: Comparator;
    let value: Clause['value'];
    if (opTok.t === 'op') {
      op = opTok.v as Comparator;
      value = this.value();
    } else if (this.isWord(opTok, 'LIKE') || this.isWord(opTok, 'ILIKE')) {
      op = (opTok as { v: string }).v.toUpperCase() as Comparator;
      value = this.value();
    } else if (this.isWord(opTok, 'IN') || (this.isWord(opTok, 'NOT') && this.isWord(this.peek(), 'IN'))) {
      if (this.isWord(opTok, 'NOT')) this.pos++;
      op = this.isWord(opTok, 'NOT') ? 'NOT IN' : 'IN';
      value = this.list();
    } else if (this.isWord(opTok, 'IS')) {
      const negate = this.isWord(this.peek(), 'NOT');
      if (negate) this.pos++;
      if (!this.isWord(this.next('NULL'), 'NULL')) throw new InvalidParameterError(`filter: expected NULL after IS in "${this.src}"`);
      op = negate ? 'IS NOT NULL' : 'IS NULL';
      value = null;
    } else {
      throw new InvalidParameterError(`filter: expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after '${key}', got ${JSON.stringify(tokText(opTok))}`);
    }
    checkTypes({ kind, key, op, value }, this.schema);
    return { kind, key, op, value };
  }

  list(): (string | number)[] {
    const open = this.next("'('");
    if (open.t !== 'punct' || open.v !== '(') throw new InvalidParameterError(`filter: expected '(' after IN in "${this.src}"`);
    const items: (string | number)[] = [];
    for (;;) {
      items.push(this.value());
      const sep = this.next("',' or ')'");
      if (sep.t === 'punct' && sep.v === ')') return items;
      if (sep.t !== 'punct' || sep.v !== ',') throw new InvalidParameterError(`filter: expected ',' or ')' in the IN list of "${this.src}"`);
    }
  }

  conjunction(): Clause[] {
    const clauses = [this.clause()];
    while (!this.done()) {
      const tok = this.next('AND');
      if (this.isWord(tok, 'OR')) throw new InvalidParameterError(`filter: OR is not supported (MLflow search syntax only combines clauses with AND)`);
      if (!this.isWord(tok, 'AND')) throw new InvalidParameterError(`filter: expected AND between clauses, got ${JSON.stringify(tokText(tok))} in "${this.src}"`);
      clauses.push(this.clause());
    }
    return clauses;
  }
}

function tokText(tok: Token): string {
  return tok.t === 'quoted' ? `${tok.q}${tok.v}${tok.q}` : String(tok.v);
}

function isNumeric(kind: EntityKind, key: string, schema: SearchSchema): boolean {
  return kind === 'metric' || (kind === 'attribute' && schema.numericAttributes.includes(key));
}

function checkTypes(c: Clause, schema: SearchSchema): void {
  const numeric = isNumeric(c.kind, c.key, schema);
  const name = `${c.kind === 'attribute' ? 'attributes' : `${c.kind}s`}.${c.key}`;
  if (numeric) {
    if (['LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL'].includes(c.op)) {
      throw new InvalidParameterError(`filter: ${name} is numeric; compare it with =, !=, <, <=, > or >=`);
    }
    if (typeof c.value !== 'number') throw new InvalidParameterError(`filter: ${name} is numeric; compare it with a number, not '${String(c.value)}'`);
  } else {
    if (['<', '<=', '>', '>='].includes(c.op)) {
      throw new InvalidParameterError(`filter: ${name} is a string; compare it with =, !=, LIKE, ILIKE, IN or NOT IN (quote numbers: ${name} = '0.1')`);
    }
    if (typeof c.value === 'number') throw new InvalidParameterError(`filter: ${name} is a string; quote the value: ${name} ${c.op} '${c.value}'`);
  }
}

export function parseFilter(filter: string | undefined, schema: SearchSchema): Clause[] {
  if (!filter || filter.trim() === '') return [];
  return new Parser(tokenize(filter), filter, schema).conjunction();
}

export function parseOrderBy(orderBy: readonly string[] | undefined, schema: SearchSchema): OrderTerm[] {
  return (orderBy ?? []).map((term) => {
    const p = new Parser(tokenize(term), term, schema);
    const { kind, key } = p.identifier();
    const rest = p.remaining();
    const direction = rest.length === 1 && rest[0]!.t === 'word' ? rest[0]!.v.toUpperCase() : rest.length === 0 ? 'ASC' : '';
    if (direction !== 'ASC' && direction !== 'DESC') throw new InvalidParameterError(`order_by '${term}': expected '<identifier> [ASC|DESC]'`);
    return { kind, key, ascending: direction === 'ASC' };
  });
}

function lookup(row: SearchRow, kind: EntityKind, key: string): string | number | null | undefined {
  switch (kind) {
    case 'metric':
      return row.metrics?.[key];
    case 'param':
      return row.params?.[key];
    case 'tag':
      return row.tags[key];
    case 'attribute':
      return row.attributes[key];
  }
}

function likeRegex(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.');
  return new RegExp(`^${body}$`, caseInsensitive ? 'is' : 's');
}

function matches(row: SearchRow, c: Clause): boolean {
  const v = lookup(row, c.kind, c.key);
  if (c.op === 'IS NULL') return v === undefined || v === null;
  if (c.op === 'IS NOT NULL') return v !== undefined && v !== null;
  // As in SQL: a run without the key never matches a comparison, not even '!='.
  if (v === undefined || v === null) return false;
  switch (c.op) {
    case '=':
      return v === c.value;
    case '!=':
      return v !== c.value;
    case '<':
      return (v as number) < (c.value as number);
    case '<=':
      return (v as number) <= (c.value as number);
    case '>':
      return (v as number) > (c.value as number);
    case '>=':
      return (v as number) >= (c.value as number);
    case 'LIKE':
    case 'ILIKE':
      return likeRegex(String(c.value), c.op === 'ILIKE').test(String(v));
    case 'IN':
      return (c.value as (string | number)[]).includes(v);
    case 'NOT IN':
      return !(c.value as (string | number)[]).includes(v);
  }
}

export function matchesAll(row: SearchRow, clauses: readonly Clause[]): boolean {
  return clauses.every((c) => matches(row, c));
}

/** Sorts by the terms in order, then by `fallback`; rows missing a key sort last either way. */
export function compareRows(terms: readonly OrderTerm[], fallback: (a: SearchRow, b: SearchRow) => number) {
  return (a: SearchRow, b: SearchRow): number => {
    for (const t of terms) {
      const va = lookup(a, t.kind, t.key);
      const vb = lookup(b, t.kind, t.key);
      const missingA = va === undefined || va === null;
      const missingB = vb === undefined || vb === null;
      if (missingA || missingB) {
        if (missingA !== missingB) return missingA ? 1 : -1;
        continue;
      }
      const cmp = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va) < String(vb) ? -1 : String(va) > String(vb) ? 1 : 0;
      if (cmp !== 0) return t.ascending ? cmp : -cmp;
    }
    return fallback(a, b);
  };
}

/** Opaque page tokens: an offset into the sorted result, base64 so clients treat it as opaque. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset: unknown };
    if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through to the error below
  }
  throw new InvalidParameterError(`invalid page_token '${token}': pass back the next_page_token of the previous response unchanged`);
}

export const RUN_SEARCH_SCHEMA: SearchSchema = {
  kinds: ['metric', 'param', 'tag', 'attribute'],
  stringAttributes: ['run_id', 'run_name', 'status', 'user_id', 'artifact_uri', 'lifecycle_stage'],
  numericAttributes: ['start_time', 'end_time'],
  attributeAliases: { created: 'start_time', Created: 'start_time', run_uuid: 'run_id' },
};

export const EXPERIMENT_SEARCH_SCHEMA: SearchSchema = {
  kinds: ['tag', 'attribute'],
  stringAttributes: ['name', 'experiment_id', 'lifecycle_stage'],
  numericAttributes: ['creation_time', 'last_update_time'],
};
