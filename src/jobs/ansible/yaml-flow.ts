/**
 * Writes JSON values as a YAML flow document that Ansible's PyYAML (YAML 1.1) reads back to the same values.
 * JSON.stringify alone is not enough: PyYAML (and libyaml) refuse raw C1 control characters, fold a raw NEL in a
 * quoted string into a space, read `1e+21` as a string and refuse a simple key longer than 1024 characters. Parts
 * marked Unsafe carry Ansible's `!unsafe` tag on every string, so that Jinja in them is never evaluated.
 */

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A value whose every string, mapping keys included, is tagged `!unsafe`: Ansible takes it literally. */
export class Unsafe {
  constructor(readonly value: JsonValue) {}
}

/** JSON, where any part may be marked Unsafe; a Map is a mapping that keeps its order even for keys like "0". */
export type FlowValue =
  | JsonValue
  | Unsafe
  | readonly FlowValue[]
  | ReadonlyMap<string, FlowValue>
  | { readonly [key: string]: FlowValue };

/** Keys longer than this (tag and quotes included) use the explicit `? key : value` form, which has no limit. */
const SIMPLE_KEY_LIMIT = 1000;
const INDENT = '  ';

/** Renders `value` as a flow document ending in a newline. Non-finite numbers are refused: YAML has no JSON for them. */
export function renderFlowYaml(value: FlowValue): string {
  return `${renderNode(value, '', false)}\n`;
}

function renderNode(value: FlowValue, indent: string, unsafe: boolean): string {
  if (value instanceof Unsafe) return renderNode(value.value, indent, true);
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return renderNumber(value);
  if (typeof value === 'string') return renderString(value, unsafe);
  const inner = indent + INDENT;
  if (isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((item) => `${inner}${renderNode(item, inner, unsafe)}`);
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  if (entries.length === 0) return '{}';
  const lines = entries.map(([key, item]) => {
    const keyText = renderString(key, unsafe);
    const valueText = renderNode(item, inner, unsafe);
    return keyText.length > SIMPLE_KEY_LIMIT ? `${inner}? ${keyText} : ${valueText}` : `${inner}${keyText}: ${valueText}`;
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

// Array.isArray does not narrow a readonly array out of a union, hence the guard.
function isArray(value: FlowValue): value is readonly FlowValue[] {
  return Array.isArray(value);
}

/**
 * Integers below 1e21 print as digits (a Python int of the same value); any other number is given the `.` that
 * YAML 1.1's float pattern requires, so `1e+21` becomes `1.0e+21`.
 */
export function renderNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`${value} has no YAML form Ansible reads as a number`);
  const text = String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e21) return text;
  if (text.includes('.')) return text;
  const exponent = text.indexOf('e');
  return exponent < 0 ? `${text}.0` : `${text.slice(0, exponent)}.0${text.slice(exponent)}`;
}

function renderString(value: string, unsafe: boolean): string {
  const quoted = `"${escapeString(value)}"`;
  return unsafe ? `!unsafe ${quoted}` : quoted;
}

/**
 * Escapes for a YAML double-quoted scalar. Everything PyYAML would refuse or fold (C0 and C1 controls, DEL,
 * NEL, the Unicode line and paragraph separators, BOM, U+FFFE/U+FFFF) is escaped; a lone surrogate, which no
 * UTF-8 stream can carry, becomes U+FFFD.
 */
export function escapeString(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += value[i]! + value[i + 1]!;
        i++;
      } else {
        out += '\ufffd';
      }
      continue;
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      out += '\ufffd';
      continue;
    }
    out += escapeUnit(code, value[i]!);
  }
  return out;
}

const NAMED_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x22, '\\"'],
  [0x5c, '\\\\'],
  [0x09, '\\t'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
]);

function escapeUnit(code: number, char: string): string {
  const named = NAMED_ESCAPES.get(code);
  if (named !== undefined) return named;
  const mustEscape =
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0xfeff ||
    code === 0xfffe ||
    code === 0xffff;
  return mustEscape ? `\\u${code.toString(16).padStart(4, '0')}` : char;
}
