/** fast-check generators shared by the inventory tests (the pure one and the one against ansible-inventory). */
import fc from 'fast-check';
import type { JsonValue, VarMap } from './inventory.js';

/** A lone surrogate cannot travel in UTF-8; the emitter turns it into U+FFFD, and so does this. */
export const wellFormed = (value: string): string => value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

export function normalized(value: JsonValue): JsonValue {
  if (typeof value === 'string') return wellFormed(value);
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (value === null || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(normalized);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [wellFormed(key), normalized(item as JsonValue)]));
}

const hostName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const groupName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/).filter((name) => name !== 'all' && name !== 'ungrouped');
const varName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/).filter((name) => name !== 'ansible_host');
const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('{{ lookup("pipe", "id") }}', '\u0085\u2028\u2029\ufeff\ufffe', '\ud800', 'x'.repeat(1200), 'yes', 'null', '1e3', '- a', '#', ': x'),
);
export const jsonValue: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e21, 2 ** 60, 5e-324, -0)),
    nastyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const varMap: fc.Arbitrary<VarMap> = fc.dictionary(varName, jsonValue, { maxKeys: 4 });

/** Hosts with unique names, none named like a group. */
export const inventoryHosts = (maxLength: number): fc.Arbitrary<{ name: string; address: string | undefined; vars: VarMap; groups: string[] }[]> =>
  fc
  .uniqueArray(
    fc.record({
      name: hostName,
      address: fc.option(fc.ipV4(), { nil: undefined }),
      vars: varMap,
      groups: fc.uniqueArray(groupName, { maxLength: 3 }),
    }),
    { selector: (host) => host.name, maxLength },
  )
  .map((hosts) => {
    // A host may not share a name with a group.
    const groups = new Set(hosts.flatMap((host) => host.groups));
    return hosts.filter((host) => !groups.has(host.name));
  });
