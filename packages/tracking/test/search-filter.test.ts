import { describe, expect, it } from 'vitest';
import { parseFilter, parseOrderBy, RUN_SEARCH_SCHEMA } from '../src/index.js';

const parse = (f: string) => parseFilter(f, RUN_SEARCH_SCHEMA);

describe('MLflow search filter parser', () => {
  it('parses the clause forms of the MLflow docs', () => {
    expect(parse("params.model = 'DiT-S/2' and metrics.loss < 0.05")).toEqual([
      { kind: 'param', key: 'model', op: '=', value: 'DiT-S/2' },
      { kind: 'metric', key: 'loss', op: '<', value: 0.05 },
    ]);
    expect(parse('metrics.`train/loss` <= -1.5e-3')).toEqual([{ kind: 'metric', key: 'train/loss', op: '<=', value: -0.0015 }]);
    expect(parse('tags."my tag" LIKE \'%x%\'')).toEqual([{ kind: 'tag', key: 'my tag', op: 'LIKE', value: '%x%' }]);
    expect(parse("attributes.status IN ('FINISHED', 'FAILED')")).toEqual([{ kind: 'attribute', key: 'status', op: 'IN', value: ['FINISHED', 'FAILED'] }]);
    expect(parse("run.run_name NOT IN ('a')")).toEqual([{ kind: 'attribute', key: 'run_name', op: 'NOT IN', value: ['a'] }]);
    expect(parse('attribute.created > 10')).toEqual([{ kind: 'attribute', key: 'start_time', op: '>', value: 10 }]);
    expect(parse('tags.x IS NOT NULL AND params.y IS NULL')).toEqual([
      { kind: 'tag', key: 'x', op: 'IS NOT NULL', value: null },
      { kind: 'param', key: 'y', op: 'IS NULL', value: null },
    ]);
    expect(parse('  ')).toEqual([]);
  });

  it('explains type errors and syntax errors', () => {
    expect(() => parse("metrics.loss < '0.1'")).toThrow(/metrics.loss is numeric; compare it with a number/);
    expect(() => parse('params.lr < 0.1')).toThrow(/params.lr is a string; compare it with =, !=, LIKE/);
    expect(() => parse('params.lr = 0.1')).toThrow(/quote the value: params.lr = '0.1'/);
    expect(() => parse("foo.bar = 'x'")).toThrow(/unknown identifier 'foo.bar'/);
    expect(() => parse("attributes.colour = 'x'")).toThrow(/unknown attribute 'colour'/);
    expect(() => parse("params.a = 'x' OR params.b = 'y'")).toThrow(/OR is not supported/);
    expect(() => parse("params.a = 'x")).toThrow(/unterminated ' quote/);
    expect(() => parse('metrics.loss <')).toThrow(/expected a value at the end/);
    expect(() => parse("params.a ~ 'x'")).toThrow(/unexpected character '~'/);
  });

  it('parses order_by terms', () => {
    expect(parseOrderBy(['metrics.loss', 'params.`a b` DESC', 'attributes.start_time asc'], RUN_SEARCH_SCHEMA)).toEqual([
      { kind: 'metric', key: 'loss', ascending: true },
      { kind: 'param', key: 'a b', ascending: false },
      { kind: 'attribute', key: 'start_time', ascending: true },
    ]);
    expect(() => parseOrderBy(['metrics.loss SIDEWAYS'], RUN_SEARCH_SCHEMA)).toThrow(/expected '<identifier> \[ASC\|DESC\]'/);
    expect(() => parseOrderBy(['metrics.loss extra DESC'], RUN_SEARCH_SCHEMA)).toThrow(/order_by 'metrics.loss extra DESC'/);
  });
});
