/**
 * Targeting: a small language that selects machines, in the spirit of Salt's compound matcher.
 *
 *   web-*                               bare word: glob on the machine name
 *   role:web and site:ams1              exact attribute values
 *   tag:gpu and not status:maintenance
 *   (site:ams1 or site:fra2) and name~^web-[0-9]+$
 *   tenant:"acme corp"                  quote values with spaces, parentheses or '"'
 *
 * Grammar (operators are the lowercase words and, or, not; `&&`, `||` and `!` are refused with a hint):
 *   target := or
 *   or     := and ( "or" and )*                precedence: not > and > or
 *   and    := unary ( "and" unary )*           a chain of one operator becomes one node with all operands
 *   unary  := "not" unary | "(" or ")" | term
 *   term   := KEY ":" VALUE | "name~" VALUE | VALUE
 *   KEY    := name | role | site | tenant | tag | status | platform
 *   VALUE  := a run of characters other than whitespace, '(', ')' and '"', or a "quoted" string in which
 *             \" and \\ are escapes and any other backslash is kept (so "^web-\d+$" needs no doubling)
 *
 * Meaning, case-sensitive throughout:
 *   name:GLOB   the whole name matches; * any run, ? one character, [abc] [a-z] one of, [!abc] none of
 *   name~REGEX  a JavaScript regular expression found anywhere in the name (anchor with ^ and $), at most
 *               200 characters
 *   tag:VALUE   the machine has that tag
 *   KEY:VALUE   the attribute equals VALUE; a machine without the attribute never matches. Wildcards are
 *               refused here, since inventory values are slugs and a '*' there is a mistake, not a pattern.
 */
import { InvalidError } from '../core/errors.js';

export const TARGET_KEYS = ['name', 'role', 'site', 'tenant', 'tag', 'status', 'platform'] as const;
export type TargetKey = (typeof TARGET_KEYS)[number];
export type AttributeKey = Exclude<TargetKey, 'name'>;

export const MAX_REGEX_LENGTH = 200;
/** Deeper nesting than this is refused, so hostile input cannot exhaust the parser's stack. */
export const MAX_TARGET_DEPTH = 64;

export type TargetExpr =
  | { readonly kind: 'name_glob'; readonly pattern: string }
  | { readonly kind: 'name_regex'; readonly pattern: string }
  | { readonly kind: 'attribute'; readonly key: AttributeKey; readonly value: string }
  | { readonly kind: 'not'; readonly operand: TargetExpr }
  | { readonly kind: 'and'; readonly operands: readonly [TargetExpr, TargetExpr, ...TargetExpr[]] }
  | { readonly kind: 'or'; readonly operands: readonly [TargetExpr, TargetExpr, ...TargetExpr[]] };

type NamePatternExpr = Extract<TargetExpr, { kind: 'name_glob' | 'name_regex' }>;

/** What targeting can see of a machine. */
export interface TargetMachine {
  readonly name: string;
  readonly role?: string | null;
  readonly site?: string | null;
  readonly tenant?: string | null;
  readonly tags: readonly string[];
  readonly status?: string | null;
  readonly platform?: string | null;
}

/** A target that does not parse; `column` is 1-based, counted in UTF-16 code units of the text. */
export class TargetSyntaxError extends InvalidError {
  readonly column: number;

  constructor(column: number, detail: string) {
    super(`target (column ${column}): ${detail}`, 'target');
    this.column = column;
  }
}

// ---- lexing -------------------------------------------------------------------------------------------------

type Token =
  | { readonly type: '(' | ')' | 'and' | 'or' | 'not' | 'end'; readonly column: number }
  | { readonly type: 'term'; readonly column: number; readonly text: string; readonly expr: TargetExpr };

const KEYWORDS = new Set(['and', 'or', 'not']);
const FOREIGN_OPERATORS: Record<string, string> = { '&&': 'and', '||': 'or', '!': 'not' };
const SPACE = /\s/;
const NEEDS_QUOTES = /[\s()"]/;
const WILDCARD = /[*?[]/;

function isValueChar(char: string): boolean {
  return !SPACE.test(char) && char !== '(' && char !== ')' && char !== '"';
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i] as string;
    const column = i + 1;
    if (SPACE.test(char)) {
      i += 1;
    } else if (char === '(' || char === ')') {
      tokens.push({ type: char, column });
      i += 1;
    } else if (char === '"') {
      const quoted = readQuoted(text, i);
      const expr = namePattern('glob', quoted.value, column);
      tokens.push({ type: 'term', column, text: text.slice(i, quoted.end), expr });
      i = quoted.end;
    } else {
      let end = i;
      while (end < text.length && isValueChar(text[end] as string)) end += 1;
      const run = text.slice(i, end);
      if (KEYWORDS.has(run)) {
        tokens.push({ type: run as 'and' | 'or' | 'not', column });
        i = end;
        continue;
      }
      const foreign = run === '&&' || run === '||' ? run : run.startsWith('!') ? '!' : undefined;
      if (foreign !== undefined) {
        const word = FOREIGN_OPERATORS[foreign] as string;
        throw new TargetSyntaxError(column, `'${foreign}' is not an operator here; write '${word}'`);
      }
      const term = readTerm(text, i, end);
      tokens.push({ type: 'term', column, text: text.slice(i, term.end), expr: term.expr });
      i = term.end;
    }
  }
  tokens.push({ type: 'end', column: text.length + 1 });
  return tokens;
}

/** Reads a quoted string whose opening quote is at `start`. */
function readQuoted(text: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (char === '"') return { value, end: i + 1 };
    if (char === '\\' && (next === '"' || next === '\\')) {
      value += next;
      i += 2;
    } else {
      value += char;
      i += 1;
    }
  }
  throw new TargetSyntaxError(start + 1, `expected a closing '"' for the value opened here, found end of input`);
}

/** Reads the term whose unquoted run is text[start, runEnd); a `key:` run may be followed by a quoted value. */
function readTerm(text: string, start: number, runEnd: number): { expr: TargetExpr; end: number } {
  const run = text.slice(start, runEnd);
  const delimiter = run.search(/[:~]/);
  let value = delimiter < 0 ? run : run.slice(delimiter + 1);
  let valueColumn = delimiter < 0 ? start + 1 : start + delimiter + 2;
  let end = runEnd;

  if (delimiter >= 0 && value === '' && text[runEnd] === '"') {
    const quoted = readQuoted(text, runEnd);
    value = quoted.value;
    valueColumn = runEnd + 1;
    end = quoted.end;
  } else if (text[runEnd] === '"' || text[runEnd] === '(') {
    // `role:a"b"` or `name~^(a|b)$`: never valid grammar, so say what the writer most likely meant.
    const hint = `quote values that contain spaces, parentheses or '"'`;
    throw new TargetSyntaxError(runEnd + 1, `unexpected '${text[runEnd]}' inside a value; ${hint}`);
  }

  if (delimiter < 0) return { expr: namePattern('glob', value, valueColumn), end };

  const key = run.slice(0, delimiter);
  const operator = run[delimiter] as ':' | '~';
  if (!(TARGET_KEYS as readonly string[]).includes(key)) {
    const named = key === '' ? `expected a key before '${operator}'` : `unknown key '${key}'`;
    throw new TargetSyntaxError(start + 1, `${named}; valid keys: ${TARGET_KEYS.join(', ')}`);
  }
  if (value === '') {
    throw new TargetSyntaxError(valueColumn, `expected a value after '${key}${operator}'`);
  }
  if (key === 'name') return { expr: namePattern(operator === '~' ? 'regex' : 'glob', value, valueColumn), end };
  if (operator === '~') {
    const detail = `'~' (regular expression) applies only to name; write '${key}:VALUE'`;
    throw new TargetSyntaxError(start + delimiter + 1, detail);
  }
  if (WILDCARD.test(value)) {
    throw new TargetSyntaxError(valueColumn, `${key} takes an exact value; wildcards (* ? [) apply only to name`);
  }
  return { expr: { kind: 'attribute', key: key as AttributeKey, value }, end };
}

function namePattern(kind: 'glob' | 'regex', pattern: string, column: number): NamePatternExpr {
  if (pattern === '') throw new TargetSyntaxError(column, 'expected a non-empty name pattern');
  const expr: NamePatternExpr = { kind: kind === 'glob' ? 'name_glob' : 'name_regex', pattern };
  const compiled = compileNamePattern(expr);
  if (typeof compiled === 'string') throw new TargetSyntaxError(column, compiled);
  compiledPatterns.set(expr, compiled);
  return expr;
}

// ---- parsing ------------------------------------------------------------------------------------------------

/** Parses target text into a plain, JSON-serialisable expression, or throws TargetSyntaxError. */
export function parseTarget(text: string): TargetExpr {
  const tokens = tokenize(text);
  let position = 0;
  let depth = 0;

  const peek = (): Token => tokens[position] as Token;
  const take = (): Token => tokens[position++] as Token;

  function parseChain(kind: 'or' | 'and', parseOperand: () => TargetExpr): TargetExpr {
    const operands = [parseOperand()];
    while (peek().type === kind) {
      take();
      operands.push(parseOperand());
    }
    const [first, second, ...rest] = operands;
    return second === undefined ? (first as TargetExpr) : { kind, operands: [first as TargetExpr, second, ...rest] };
  }

  const parseOr = (): TargetExpr => parseChain('or', parseAnd);
  const parseAnd = (): TargetExpr => parseChain('and', parseUnary);

  function parseUnary(): TargetExpr {
    const token = take();
    if (token.type === 'term') return token.expr;
    if (token.type !== 'not' && token.type !== '(') {
      throw new TargetSyntaxError(token.column, `expected a term, '(' or 'not', found ${describe(token)}`);
    }
    if (++depth > MAX_TARGET_DEPTH) {
      throw new TargetSyntaxError(token.column, `expected at most ${MAX_TARGET_DEPTH} levels of nesting`);
    }
    let expr: TargetExpr;
    if (token.type === 'not') {
      expr = { kind: 'not', operand: parseUnary() };
    } else {
      expr = parseOr();
      const closing = take();
      if (closing.type !== ')') {
        const detail = `expected 'and', 'or' or ')' to close the '(' at column ${token.column}`;
        throw new TargetSyntaxError(closing.column, `${detail}, found ${describe(closing)}`);
      }
    }
    depth -= 1;
    return expr;
  }

  const expr = parseOr();
  const rest = peek();
  if (rest.type !== 'end') {
    throw new TargetSyntaxError(rest.column, `expected 'and', 'or' or end of input, found ${describe(rest)}`);
  }
  return expr;
}

function describe(token: Token): string {
  if (token.type === 'end') return 'end of input';
  if (token.type === 'term') return `'${token.text}'`;
  return `'${token.type}'`;
}

// ---- formatting ---------------------------------------------------------------------------------------------

/** Prints an expression canonically, with only the parentheses it needs: parseTarget(formatTarget(e)) equals e. */
export function formatTarget(expr: TargetExpr): string {
  switch (expr.kind) {
    case 'name_glob':
      return `name:${formatValue(expr.pattern)}`;
    case 'name_regex':
      return `name~${formatValue(expr.pattern)}`;
    case 'attribute':
      return `${expr.key}:${formatValue(expr.value)}`;
    case 'not':
      return `not ${formatOperand(expr.operand, ['and', 'or'])}`;
    case 'and':
      // A nested `and` is kept in parentheses so that the grouping written survives the round trip.
      return expr.operands.map((operand) => formatOperand(operand, ['and', 'or'])).join(' and ');
    case 'or':
      return expr.operands.map((operand) => formatOperand(operand, ['or'])).join(' or ');
  }
}

function formatOperand(expr: TargetExpr, parenthesised: readonly TargetExpr['kind'][]): string {
  const text = formatTarget(expr);
  return parenthesised.includes(expr.kind) ? `(${text})` : text;
}

function formatValue(value: string): string {
  if (value !== '' && !NEEDS_QUOTES.test(value)) return value;
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

// ---- matching -----------------------------------------------------------------------------------------------

/** Compiled name patterns, keyed by the expression node so a target reused across a fleet compiles once. */
const compiledPatterns = new WeakMap<NamePatternExpr, RegExp>();

/** True when the machine is selected by the expression. */
export function matchTarget(expr: TargetExpr, machine: TargetMachine): boolean {
  switch (expr.kind) {
    case 'name_glob':
    case 'name_regex':
      return namePatternRegExp(expr).test(machine.name);
    case 'attribute':
      return expr.key === 'tag' ? machine.tags.includes(expr.value) : machine[expr.key] === expr.value;
    case 'not':
      return !matchTarget(expr.operand, machine);
    case 'and':
      return expr.operands.every((operand) => matchTarget(operand, machine));
    case 'or':
      return expr.operands.some((operand) => matchTarget(operand, machine));
  }
}

function namePatternRegExp(expr: NamePatternExpr): RegExp {
  let regExp = compiledPatterns.get(expr);
  if (regExp === undefined) {
    const compiled = compileNamePattern(expr);
    // Only reachable for expressions built by hand rather than by parseTarget.
    if (typeof compiled === 'string') throw new InvalidError(`target: ${compiled}`, 'target');
    regExp = compiled;
    compiledPatterns.set(expr, regExp);
  }
  return regExp;
}

/** The RegExp for a name pattern, or a message saying why the pattern is invalid. */
function compileNamePattern(expr: NamePatternExpr): RegExp | string {
  if (expr.kind === 'name_glob') return globToRegExp(expr.pattern);
  if (expr.pattern.length > MAX_REGEX_LENGTH) {
    return `expected a regular expression of at most ${MAX_REGEX_LENGTH} characters, found ${expr.pattern.length}`;
  }
  try {
    // Unanchored and without flags, like grep: `^web` means "starts with web".
    return new RegExp(expr.pattern);
  } catch (error) {
    return `invalid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
}

/** Translates a shell-style glob (fnmatch rules: `[!...]` negates, a leading `]` in a class is literal). */
function globToRegExp(glob: string): RegExp | string {
  const chars = Array.from(glob);
  const literal = (char: string): string => `\\u{${(char.codePointAt(0) as number).toString(16)}}`;
  let source = '^';
  let i = 0;
  while (i < chars.length) {
    const char = chars[i] as string;
    if (char === '*') {
      source += '.*';
      i += 1;
    } else if (char === '?') {
      source += '.';
      i += 1;
    } else if (char === '[') {
      let j = i + 1;
      const negated = chars[j] === '!' || chars[j] === '^';
      if (negated) j += 1;
      let members = '';
      let first = true;
      while (j < chars.length && (first || chars[j] !== ']')) {
        const low = chars[j] as string;
        const high = chars[j + 2];
        if (chars[j + 1] === '-' && high !== undefined && high !== ']') {
          if ((low.codePointAt(0) as number) > (high.codePointAt(0) as number)) {
            return `invalid glob '${glob}': range '${low}-${high}' is out of order`;
          }
          members += `${literal(low)}-${literal(high)}`;
          j += 3;
        } else {
          members += literal(low);
          j += 1;
        }
        first = false;
      }
      if (j >= chars.length) return `invalid glob '${glob}': expected ']' to close the '['`;
      source += `[${negated ? '^' : ''}${members}]`;
      i = j + 1;
    } else {
      source += literal(char);
      i += 1;
    }
  }
  return new RegExp(`${source}$`, 'su');
}
