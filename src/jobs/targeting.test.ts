import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidError } from '../core/errors.js';
import {
  MAX_REGEX_LENGTH,
  MAX_TARGET_DEPTH,
  TargetSyntaxError,
  formatTarget,
  matchTarget,
  parseTarget,
  type AttributeKey,
  type TargetExpr,
  type TargetMachine,
} from './targeting.js';

const glob = (pattern: string): TargetExpr => ({ kind: 'name_glob', pattern });
const regex = (pattern: string): TargetExpr => ({ kind: 'name_regex', pattern });
const attr = (key: AttributeKey, value: string): TargetExpr => ({ kind: 'attribute', key, value });
const not = (operand: TargetExpr): TargetExpr => ({ kind: 'not', operand });
type Operands = [TargetExpr, TargetExpr, ...TargetExpr[]];
const and = (...operands: Operands): TargetExpr => ({ kind: 'and', operands });
const or = (...operands: Operands): TargetExpr => ({ kind: 'or', operands });

const machine = (name: string, extra: Partial<TargetMachine> = {}): TargetMachine => ({ name, tags: [], ...extra });

describe('parseTarget: terms', () => {
  const cases: [string, TargetExpr][] = [
    ['role:web', attr('role', 'web')],
    ['site:ams1', attr('site', 'ams1')],
    ['tenant:acme', attr('tenant', 'acme')],
    ['tag:gpu', attr('tag', 'gpu')],
    ['status:active', attr('status', 'active')],
    ['platform:debian-12', attr('platform', 'debian-12')],
    ['name:web-*', glob('web-*')],
    ['name~^web-[0-9]+$', regex('^web-[0-9]+$')],
    ['web-*', glob('web-*')],
    ['db-[ab]?', glob('db-[ab]?')],
    ['tenant:"acme corp"', attr('tenant', 'acme corp')],
    ['"rack 4 *"', glob('rack 4 *')],
    ['"and"', glob('and')],
    ['role:and', attr('role', 'and')],
    ['name~"^web-(a|b)\\d+$"', regex('^web-(a|b)\\d+$')],
    ['name:"say \\"hi\\" \\\\ there"', glob('say "hi" \\ there')],
    ['name~^web-\\d+$', regex('^web-\\d+$')],
    ['site:a:b', attr('site', 'a:b')],
    ['  \trole:web\n ', attr('role', 'web')],
  ];
  for (const [text, expected] of cases) {
    test(text, () => assert.deepEqual(parseTarget(text), expected));
  }
});

describe('parseTarget: operators and precedence', () => {
  const [a, b, c, d] = [glob('a'), glob('b'), glob('c'), glob('d')];
  const cases: [string, TargetExpr][] = [
    ['a and b', and(a, b)],
    ['a or b', or(a, b)],
    ['not a', not(a)],
    ['a or b and c', or(a, and(b, c))],
    ['a and b or c', or(and(a, b), c)],
    ['a and b or c and d', or(and(a, b), and(c, d))],
    ['not a and b', and(not(a), b)],
    ['not a or b', or(not(a), b)],
    ['a and not b or c', or(and(a, not(b)), c)],
    ['not not a', not(not(a))],
    ['(a or b) and c', and(or(a, b), c)],
    ['not (a and b)', not(and(a, b))],
    ['a and b and c', and(a, b, c)],
    ['a or b or c or d', or(a, b, c, d)],
    ['a and (b and c)', and(a, and(b, c))],
    ['(a and b) and c', and(and(a, b), c)],
    ['((a))', a],
    ['not(a)and(b)', and(not(a), b)],
  ];
  for (const [text, expected] of cases) {
    test(text, () => assert.deepEqual(parseTarget(text), expected));
  }
});

describe('parseTarget: errors name the column and what was expected', () => {
  const cases: [string, number, RegExp][] = [
    ['', 1, /expected a term, '\(' or 'not', found end of input/],
    ['role:', 6, /expected a value after 'role:'/],
    ['role: web', 6, /expected a value after 'role:'/],
    ['role:web and', 13, /expected a term, '\(' or 'not', found end of input/],
    ['rol:web', 1, /unknown key 'rol'; valid keys: name, role, site, tenant, tag, status, platform/],
    ['role:web and colour:red', 14, /unknown key 'colour'; valid keys: name, role, site/],
    [':web', 1, /expected a key before ':'; valid keys:/],
    ['role~web', 5, /'~' \(regular expression\) applies only to name/],
    ['tag:gp*', 5, /tag takes an exact value; wildcards \(\* \? \[\) apply only to name/],
    ['web db', 5, /expected 'and', 'or' or end of input, found 'db'/],
    ['(a or b', 8, /expected 'and', 'or' or '\)' to close the '\(' at column 1, found end of input/],
    ['(a b)', 4, /to close the '\(' at column 1, found 'b'/],
    ['a )', 3, /expected 'and', 'or' or end of input, found '\)'/],
    ['()', 2, /expected a term, '\(' or 'not', found '\)'/],
    ['and a', 1, /expected a term, '\(' or 'not', found 'and'/],
    ['not', 4, /found end of input/],
    ['a && b', 3, /'&&' is not an operator here; write 'and'/],
    ['a || b', 3, /'\|\|' is not an operator here; write 'or'/],
    ['!role:web', 1, /'!' is not an operator here; write 'not'/],
    ['name~^(a|b)$', 7, /unexpected '\(' inside a value; quote values that contain spaces, parentheses or '"'/],
    ['role:ab"c"', 8, /unexpected '"' inside a value/],
    ['role:"acme', 6, /expected a closing '"' for the value opened here, found end of input/],
    ['name~"(("', 6, /invalid regular expression: .*Unterminated group/],
    ['name~[', 6, /invalid regular expression/],
    ['name:web-[ab', 6, /invalid glob 'web-\[ab': expected '\]' to close the '\['/],
    ['name:[z-a]', 6, /range 'z-a' is out of order/],
    ['name:""', 6, /expected a value after 'name:'/],
    ['a or ""', 6, /expected a non-empty name pattern/],
    ['role:""', 6, /expected a value after 'role:'/],
    [`name~${'a'.repeat(MAX_REGEX_LENGTH + 1)}`, 6, /at most 200 characters, found 201/],
  ];
  for (const [text, column, message] of cases) {
    test(JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text), () => {
      assert.throws(
        () => parseTarget(text),
        (error: unknown) => {
          assert.ok(error instanceof TargetSyntaxError);
          assert.ok(error instanceof InvalidError, 'maps to HTTP 400 like every invalid input');
          assert.equal(error.column, column);
          assert.match(error.message, new RegExp(`column ${column}\\)`));
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  test('a regular expression of exactly the limit is accepted', () => {
    assert.deepEqual(parseTarget(`name~${'a'.repeat(MAX_REGEX_LENGTH)}`), regex('a'.repeat(MAX_REGEX_LENGTH)));
  });

  test('nesting is bounded', () => {
    assert.doesNotThrow(() => parseTarget(`${'('.repeat(MAX_TARGET_DEPTH)}a${')'.repeat(MAX_TARGET_DEPTH)}`));
    assert.doesNotThrow(() => parseTarget(`${'not '.repeat(MAX_TARGET_DEPTH)}a`));
    assert.throws(() => parseTarget(`${'('.repeat(5000)}a${')'.repeat(5000)}`), /at most 64 levels of nesting/);
    assert.throws(() => parseTarget(`${'not '.repeat(MAX_TARGET_DEPTH + 1)}a`), TargetSyntaxError);
  });
});

describe('formatTarget', () => {
  const cases: [string, string][] = [
    ['web-*', 'name:web-*'],
    ['role:web  and   site:ams1', 'role:web and site:ams1'],
    ['((a or b)) and c', '(name:a or name:b) and name:c'],
    ['(a and b) or c', 'name:a and name:b or name:c'],
    ['a and (b and c)', 'name:a and (name:b and name:c)'],
    ['not (a or b)', 'not (name:a or name:b)'],
    ['tenant:"acme corp"', 'tenant:"acme corp"'],
    ['name~"^(a|b)\\d$"', 'name~"^(a|b)\\\\d$"'],
    ['name~^a\\d$', 'name~^a\\d$'],
    ['"and"', 'name:and'],
  ];
  for (const [text, expected] of cases) {
    test(`${text} -> ${expected}`, () => assert.equal(formatTarget(parseTarget(text)), expected));
  }
});

describe('matchTarget', () => {
  const fleet: TargetMachine[] = [
    machine('web-1', { role: 'web', site: 'ams1', tenant: 'acme', status: 'active', platform: 'debian-12' }),
    machine('web-12', { role: 'web', site: 'fra2', tenant: 'acme', status: 'maintenance', platform: 'debian-12' }),
    machine('db-a', { role: 'db', site: 'ams1', tenant: null, tags: ['ssd', 'gpu'], status: 'active' }),
    machine('gpu-7', { role: null, site: 'fra2', tags: ['gpu'], status: 'failed' }),
    machine('Web-2'),
  ];
  const select = (text: string): string[] => {
    const expr = parseTarget(text);
    return fleet.filter((m) => matchTarget(expr, m)).map((m) => m.name);
  };
  const cases: [string, string[]][] = [
    ['web-*', ['web-1', 'web-12']],
    ['web-?', ['web-1']],
    ['*', ['web-1', 'web-12', 'db-a', 'gpu-7', 'Web-2']],
    ['[Ww]eb-*', ['web-1', 'web-12', 'Web-2']],
    ['[!w]*', ['db-a', 'gpu-7', 'Web-2']],
    ['*-[0-9]', ['web-1', 'gpu-7', 'Web-2']],
    ['web', []],
    ['name~^web-[0-9]+$', ['web-1', 'web-12']],
    ['name~eb', ['web-1', 'web-12', 'Web-2']],
    ['role:web', ['web-1', 'web-12']],
    ['not role:web', ['db-a', 'gpu-7', 'Web-2']],
    ['tag:gpu', ['db-a', 'gpu-7']],
    ['tenant:acme and not status:maintenance', ['web-1']],
    ['site:ams1 or site:fra2 and tag:gpu', ['web-1', 'db-a', 'gpu-7']],
    ['(site:ams1 or site:fra2) and tag:gpu', ['db-a', 'gpu-7']],
    ['platform:debian-12 and status:active', ['web-1']],
    ['not (role:web or role:db)', ['gpu-7', 'Web-2']],
  ];
  for (const [text, expected] of cases) {
    test(`${text} selects ${expected.join(', ') || 'nothing'}`, () => assert.deepEqual(select(text), expected));
  }

  test('globs cover the whole name and treat class edge cases like fnmatch', () => {
    const names = (pattern: string, candidates: string[]): string[] =>
      candidates.filter((name) => matchTarget(glob(pattern), machine(name)));
    assert.deepEqual(names('[]]x', [']x', 'x', '[]]x']), [']x']);
    assert.deepEqual(names('[a-]', ['a', '-', 'b']), ['a', '-']);
    assert.deepEqual(names('a.b', ['a.b', 'axb']), ['a.b']);
    assert.deepEqual(names('a+(b)|$', ['a+(b)|$', 'aab']), ['a+(b)|$']);
    assert.deepEqual(names('?', ['é', '😀', 'ab']), ['é', '😀']);
    assert.deepEqual(names('x]', ['x]']), ['x]']);
  });

  test('a hand-built expression with an invalid pattern is refused when matched', () => {
    assert.throws(() => matchTarget(regex('(('), machine('a')), InvalidError);
    assert.throws(() => matchTarget(glob('[ab'), machine('a')), /expected '\]' to close/);
  });
});

// ---- properties -----------------------------------------------------------------------------------------------

const ATTRIBUTE_KEYS: AttributeKey[] = ['role', 'site', 'tenant', 'tag', 'status', 'platform'];
/** Characters that stress quoting: whitespace, parentheses, quotes, backslashes, delimiters, non-ASCII. */
const valueChar = fc.constantFrom(
  ...['a', 'b', 'z', '0', '9', '-', '_', '.', ':', '~', '!', 'é', '😀'],
  ...[' ', '\t', '(', ')', '"', '\\'],
);
const valueArb = fc.string({ unit: valueChar, minLength: 1, maxLength: 8 });
const globArb = fc
  .array(fc.oneof(valueChar, fc.constantFrom('*', '?', ']', '[ab]', '[!a-c]', '[]x]', '[a-]')), {
    minLength: 1,
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const regexArb = fc
  .array(fc.constantFrom('^', 'web', '-', '[0-9]+', '$', '(a|b)', '\\d', '.*', ' ', '"', 'x?', '\\\\', '\\('), {
    minLength: 1,
    maxLength: 10,
  })
  .map((parts) => parts.join(''));

const leafArb: fc.Arbitrary<TargetExpr> = fc.oneof(
  globArb.map(glob),
  regexArb.map(regex),
  fc.tuple(fc.constantFrom(...ATTRIBUTE_KEYS), valueArb).map(([key, value]) => attr(key, value)),
);

function exprArb(leaf: fc.Arbitrary<TargetExpr>): fc.Arbitrary<TargetExpr> {
  const tree = fc.letrec<{ expr: TargetExpr; not: TargetExpr; and: TargetExpr; or: TargetExpr }>((tie) => ({
    expr: fc.oneof({ maxDepth: 4, depthSize: 'small' }, leaf, tie('not'), tie('and'), tie('or')),
    not: tie('expr').map(not),
    and: fc.array(tie('expr'), { minLength: 2, maxLength: 4 }).map(([a, b, ...rest]) => and(a!, b!, ...rest)),
    or: fc.array(tie('expr'), { minLength: 2, maxLength: 4 }).map(([a, b, ...rest]) => or(a!, b!, ...rest)),
  }));
  return tree.expr;
}

/** Leaves and machines drawn from small pools, so that random expressions often match. */
const semanticLeafArb: fc.Arbitrary<TargetExpr> = fc.constantFrom(
  attr('role', 'web'),
  attr('role', 'db'),
  attr('site', 'ams1'),
  attr('tenant', 'acme'),
  attr('tag', 'gpu'),
  attr('status', 'active'),
  attr('platform', 'debian-12'),
  glob('web-*'),
  glob('*-[0-9]'),
  regex('^web-[0-9]+$'),
);
const machineArb: fc.Arbitrary<TargetMachine> = fc.record({
  name: fc.constantFrom('web-1', 'web-12', 'db-a', 'db-1', 'x'),
  role: fc.constantFrom('web', 'db', null, undefined),
  site: fc.constantFrom('ams1', 'fra2', null),
  tenant: fc.constantFrom('acme', null),
  tags: fc.subarray(['gpu', 'ssd']),
  status: fc.constantFrom('active', 'failed', null),
  platform: fc.constantFrom('debian-12', 'debian-13', undefined),
});

describe('targeting properties', () => {
  test('parseTarget(formatTarget(e)) equals e, and the AST survives JSON', () => {
    fc.assert(
      fc.property(exprArb(leafArb), (expr) => {
        const text = formatTarget(expr);
        assert.deepEqual(parseTarget(text), expr, text);
        assert.deepEqual(JSON.parse(JSON.stringify(expr)), expr);
      }),
      { numRuns: 2000 },
    );
  });

  test('random text either parses to a canonical form or fails with TargetSyntaxError', () => {
    const tokenArb = fc.oneof(
      fc.constantFrom('and', 'or', 'not', '(', ')', ' ', '"', '\\', '&&', '!', '[', '*', ':'),
      fc.constantFrom('role:', 'name~', 'name:'),
      valueArb,
    );
    fc.assert(
      fc.property(fc.array(tokenArb, { maxLength: 12 }), (parts) => {
        const text = parts.join('');
        let expr: TargetExpr;
        try {
          expr = parseTarget(text);
        } catch (error) {
          assert.ok(error instanceof TargetSyntaxError, String(error));
          assert.ok(error.column >= 1 && error.column <= text.length + 1);
          return;
        }
        assert.equal(formatTarget(parseTarget(formatTarget(expr))), formatTarget(expr));
      }),
      { numRuns: 3000 },
    );
  });

  test('not not x matches exactly what x matches', () => {
    fc.assert(
      fc.property(exprArb(semanticLeafArb), machineArb, (x, m) => {
        assert.equal(matchTarget(parseTarget(`not not (${formatTarget(x)})`), m), matchTarget(x, m));
      }),
      { numRuns: 1000 },
    );
  });

  test("De Morgan: not (a and b) = not a or not b, not (a or b) = not a and not b", () => {
    fc.assert(
      fc.property(exprArb(semanticLeafArb), exprArb(semanticLeafArb), machineArb, (a, b, m) => {
        assert.equal(matchTarget(not(and(a, b)), m), matchTarget(or(not(a), not(b)), m));
        assert.equal(matchTarget(not(or(a, b)), m), matchTarget(and(not(a), not(b)), m));
      }),
      { numRuns: 1000 },
    );
  });
});
