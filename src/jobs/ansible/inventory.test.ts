import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import YAML from 'yaml';
import { InvalidError } from '../../core/errors.js';
import { renderInventory, type InventorySpec, type JsonValue } from './inventory.js';
import { inventoryHosts, jsonValue, normalized } from './inventory-arbitraries.js';
import { escapeString, renderFlowYaml, renderNumber, Unsafe } from './yaml-flow.js';

const parseYaml = (text: string): unknown => YAML.parse(text, { customTags: [{ tag: '!unsafe', resolve: (value: string) => value }] });

describe('renderInventory', () => {
  test('renders hosts, addresses, vars and groups in input order, strings in values tagged !unsafe', () => {
    const text = renderInventory({
      hosts: [
        { name: 'web-1.ams1', address: '10.0.0.5', vars: { rack: 'r1', ports: [80, 443] }, groups: ['web', 'ams1'] },
        { name: 'db_1', groups: ['ams1'] },
      ],
      groupVars: { ams1: { ntp: '10.0.0.1' }, all: { ansible_user: 'root' } },
    });
    assert.equal(
      text,
      `{
  "all": {
    "hosts": {
      "web-1.ams1": {
        "ansible_host": !unsafe "10.0.0.5",
        "rack": !unsafe "r1",
        "ports": [
          80,
          443
        ]
      },
      "db_1": {}
    },
    "children": {
      "web": {
        "hosts": {
          "web-1.ams1": null
        }
      },
      "ams1": {
        "hosts": {
          "web-1.ams1": null,
          "db_1": null
        },
        "vars": {
          "ntp": !unsafe "10.0.0.1"
        }
      }
    },
    "vars": {
      "ansible_user": !unsafe "root"
    }
  }
}
`,
    );
  });

  test('allowTemplates leaves strings untagged', () => {
    const text = renderInventory({ hosts: [{ name: 'h1', vars: { motd: '{{ inventory_hostname }}' } }], allowTemplates: true });
    assert.doesNotMatch(text, /!unsafe/);
    assert.deepEqual(parseYaml(text), { all: { hosts: { h1: { motd: '{{ inventory_hostname }}' } }, children: {} } });
  });

  test('a group named only in groupVars is rendered without hosts', () => {
    const parsed = parseYaml(renderInventory({ hosts: [], groupVars: { spare: { x: 1 } } }));
    assert.deepEqual(parsed, { all: { hosts: {}, children: { spare: { hosts: {}, vars: { x: 1 } } } } });
  });

  test('__proto__ is an ordinary name, not a prototype', () => {
    const parsed = parseYaml(renderInventory({ hosts: [{ name: '__proto__', groups: ['__proto__x'] }] })) as { all: { hosts: object } };
    assert.deepEqual(Object.keys(parsed.all.hosts), ['__proto__']);
  });

  const refused: [string, InventorySpec, string][] = [
    ['a range', { hosts: [{ name: 'web[1:3]' }] }, 'hosts[0].name'],
    ['a list', { hosts: [{ name: 'a,b' }] }, 'hosts[0].name'],
    ['a negation', { hosts: [{ name: '!a' }] }, 'hosts[0].name'],
    ['a glob', { hosts: [{ name: 'web*' }] }, 'hosts[0].name'],
    ['a regex', { hosts: [{ name: '~web' }] }, 'hosts[0].name'],
    ['a space', { hosts: [{ name: 'web 1' }] }, 'hosts[0].name'],
    ['an option', { hosts: [{ name: '-x' }] }, 'hosts[0].name'],
    ['an empty name', { hosts: [{ name: '' }] }, 'hosts[0].name'],
    ['a too long name', { hosts: [{ name: 'a'.repeat(254) }] }, 'hosts[0].name'],
    ['a duplicate', { hosts: [{ name: 'h1' }, { name: 'h1' }] }, 'hosts[1].name'],
    ['a host named like a group', { hosts: [{ name: 'h1', groups: ['web'] }, { name: 'web' }] }, 'hosts[1].name'],
    ['a host named like a groupVars group', { hosts: [{ name: 'spare' }], groupVars: { spare: {} } }, 'hosts[0].name'],
    ['a host named all', { hosts: [{ name: 'all' }] }, 'hosts[0].name'],
    ['a dashed group', { hosts: [{ name: 'h1', groups: ['web-1'] }] }, 'hosts[0].groups[0]'],
    ['the group all', { hosts: [{ name: 'h1', groups: ['all'] }] }, 'hosts[0].groups[0]'],
    ['a bad groupVars group', { hosts: [], groupVars: { '1x': {} } }, 'groupVars.1x'],
    ['a bad var name', { hosts: [{ name: 'h1', vars: { 'a-b': 1 } }] }, 'hosts[0].vars.a-b'],
    ['a bad group var name', { hosts: [], groupVars: { all: { 'x y': 1 } } }, 'groupVars.all.x y'],
    ['ansible_host beside an address', { hosts: [{ name: 'h1', address: '10.0.0.1', vars: { ansible_host: 'x' } }] }, 'hosts[0].vars.ansible_host'],
    ['an address with a space', { hosts: [{ name: 'h1', address: '10.0.0.1 -oProxyCommand=x' }] }, 'hosts[0].address'],
    ['an empty address', { hosts: [{ name: 'h1', address: '' }] }, 'hosts[0].address'],
    ['NaN', { hosts: [{ name: 'h1', vars: { x: Number.NaN } }] }, 'hosts[0].vars.x'],
    ['Infinity deep down', { hosts: [{ name: 'h1', vars: { x: [1, { y: -Infinity }] } }] }, 'hosts[0].vars.x[1].y'],
    ['Infinity in group vars', { hosts: [], groupVars: { all: { x: Infinity } } }, 'groupVars.all.x'],
  ];
  for (const [what, spec, field] of refused) {
    test(`refuses ${what}, naming ${field}`, () => {
      assert.throws(() => renderInventory(spec), (error: unknown) => error instanceof InvalidError && error.field === field);
    });
  }

  test('property: any valid inventory parses back to its hosts, vars and groups', () => {
    fc.assert(
      fc.property(inventoryHosts(6), fc.boolean(), (hosts, allowTemplates) => {
        const text = renderInventory({ hosts, allowTemplates });
        const parsed = parseYaml(text) as { all: { hosts: Record<string, unknown>; children: Record<string, { hosts: Record<string, null> }> } };
        const ordered = YAML.parse(text, { customTags: [{ tag: '!unsafe', resolve: (value: string) => value }], mapAsMap: true }) as Map<string, Map<string, Map<string, unknown>>>;
        assert.deepEqual([...(ordered.get('all')?.get('hosts')?.keys() ?? [])], hosts.map((host) => host.name));
        for (const host of hosts) {
          const expected = normalized(host.address === undefined ? host.vars : { ansible_host: host.address, ...host.vars });
          assert.deepEqual(parsed.all.hosts[host.name], expected);
          for (const group of host.groups) assert.ok(Object.hasOwn(parsed.all.children[group]?.hosts ?? {}, host.name));
        }
        const memberships = Object.values(parsed.all.children).reduce((sum, group) => sum + Object.keys(group.hosts).length, 0);
        assert.equal(memberships, hosts.reduce((sum, host) => sum + host.groups.length, 0));
      }),
      { numRuns: 100 },
    );
  });
});

describe('renderFlowYaml', () => {
  const countStrings = (value: JsonValue): number => {
    if (typeof value === 'string') return 1;
    if (value === null || typeof value !== 'object') return 0;
    if (Array.isArray(value)) return value.reduce((sum: number, item: JsonValue) => sum + countStrings(item), 0);
    return Object.entries(value).reduce((sum, [, item]) => sum + 1 + countStrings(item as JsonValue), 0);
  };

  test('property: round-trips any JSON value, tagging every string and key of an Unsafe part', () => {
    fc.assert(
      fc.property(jsonValue, fc.boolean(), (value, unsafe) => {
        const text = renderFlowYaml(unsafe ? { plain: 'x', marked: new Unsafe(value) } : value);
        assert.deepEqual(parseYaml(text), unsafe ? { plain: 'x', marked: normalized(value) } : normalized(value));
        assert.equal(text.split('!unsafe "').length - 1, unsafe ? countStrings(value) : 0);
      }),
      { numRuns: 1000 },
    );
  });

  test('property: no character PyYAML refuses or folds is left raw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (value) => {
        assert.doesNotMatch(escapeString(value), /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/);
        assert.doesNotMatch(escapeString(value), /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }),
      { numRuns: 2000 },
    );
  });

  test('long keys use the explicit key form', () => {
    const key = 'k'.repeat(1500);
    const text = renderFlowYaml(new Unsafe({ [key]: 1, short: 2 }));
    assert.match(text, /^ {2}\? !unsafe "k+" : 1,$/m);
    assert.match(text, /^ {2}!unsafe "short": 2$/m);
  });
});

describe('renderNumber', () => {
  // YAML 1.1 (PyYAML) patterns: a float needs a '.', an exponent needs a sign.
  const YAML11_INT = /^-?(0|[1-9][0-9]*)$/;
  const YAML11_FLOAT = /^[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?$/;

  test('examples', () => {
    assert.equal(renderNumber(42), '42');
    assert.equal(renderNumber(-0), '0');
    assert.equal(renderNumber(0.5), '0.5');
    assert.equal(renderNumber(1e21), '1.0e+21');
    assert.equal(renderNumber(-1.5e-7), '-1.5e-7');
    assert.equal(renderNumber(5e-324), '5.0e-324');
    assert.equal(renderNumber(2 ** 60), '1152921504606847000'); // the same double, and Python reads it as such
    assert.throws(() => renderNumber(Number.NaN), RangeError);
  });

  test('property: every finite number reads back as a YAML 1.1 int or float of the same value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.maxSafeInteger()), (value) => {
        const text = renderNumber(value);
        assert.ok(YAML11_INT.test(text) || YAML11_FLOAT.test(text), text);
        assert.equal(Number(text), Object.is(value, -0) ? 0 : value);
      }),
      { numRuns: 3000 },
    );
  });
});
