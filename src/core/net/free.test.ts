import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addressBits, addressOf, compareAddresses, formatAddress, parseAddress, type IpAddress, type IpFamily } from './address.js';
import { availablePrefixes, firstFreeAddress, freeRanges, usableRange } from './free.js';
import {
  comparePrefixes,
  formatPrefix,
  parsePrefix,
  prefixContaining,
  prefixContainsPrefix,
  prefixesOverlap,
  prefixRange,
  prefixSize,
  supernet,
  type IpPrefix,
} from './prefix.js';
import { formatRange, rangeSize, type IpRange } from './range.js';

const a = (text: string): IpAddress => parseAddress(text);
const r = (start: string, end: string): IpRange => ({ start: a(start), end: a(end) });
const span = (family: IpFamily): bigint => 2n ** BigInt(addressBits(family));
const startOf = (item: IpAddress | IpRange): bigint => ('value' in item ? item.value : item.start.value);
const endOf = (item: IpAddress | IpRange): bigint => ('value' in item ? item.value : item.end.value);

/** How many addresses of [low, high] the items cover, counting overlaps once (items sorted by start). */
function coveredCount(items: Array<IpAddress | IpRange>, low: bigint, high: bigint): bigint {
  let count = 0n;
  let cursor = low;
  for (const item of items) {
    const start = startOf(item) > cursor ? startOf(item) : cursor;
    const end = endOf(item) < high ? endOf(item) : high;
    if (start <= end) [count, cursor] = [count + end - start + 1n, end + 1n];
  }
  return count;
}

describe('usableRange follows NetBox available-ips', () => {
  test('IPv4 leaves out network and broadcast below /31; IPv6 the Subnet-Router anycast address below /127', () => {
    const cases: Array<[string, boolean, string]> = [
      ['10.0.0.0/24', false, '10.0.0.1-10.0.0.254'],
      ['10.0.0.0/30', false, '10.0.0.1-10.0.0.2'],
      ['10.0.0.0/31', false, '10.0.0.0-10.0.0.1'],
      ['10.0.0.5/32', false, '10.0.0.5-10.0.0.5'],
      ['0.0.0.0/0', false, '0.0.0.1-255.255.255.254'],
      ['10.0.0.0/24', true, '10.0.0.0-10.0.0.255'],
      ['2001:db8::/64', false, '2001:db8::1-2001:db8::ffff:ffff:ffff:ffff'],
      ['2001:db8::/126', false, '2001:db8::1-2001:db8::3'],
      ['2001:db8::/127', false, '2001:db8::-2001:db8::1'],
      ['2001:db8::1/128', false, '2001:db8::1-2001:db8::1'],
      ['2001:db8::/64', true, '2001:db8::-2001:db8::ffff:ffff:ffff:ffff'],
    ];
    for (const [prefix, pool, usable] of cases) assert.equal(formatRange(usableRange(parsePrefix(prefix), { pool })), usable, prefix);
  });
});

describe('freeRanges', () => {
  const free = (within: IpRange, used: Array<IpAddress | IpRange>): string[] => [...freeRanges(within, used)].map(formatRange);

  test('examples: addresses, overlapping and nested ranges, items outside', () => {
    const within = r('10.0.0.1', '10.0.0.254');
    const used = [a('10.0.0.0'), a('10.0.0.1'), a('10.0.0.3'), r('10.0.0.5', '10.0.0.9'), a('10.0.0.7'), a('10.0.0.7'),
      r('10.0.0.8', '10.0.0.12'), a('10.0.0.254'), a('10.0.1.9')];
    assert.deepEqual(free(within, used), ['10.0.0.2-10.0.0.2', '10.0.0.4-10.0.0.4', '10.0.0.13-10.0.0.253']);
    assert.deepEqual(free(within, []), ['10.0.0.1-10.0.0.254']);
    assert.deepEqual(free(within, [r('10.0.0.0', '10.0.0.255')]), []);
    assert.deepEqual(free(within, [r('9.0.0.0', '10.0.0.100')]), ['10.0.0.101-10.0.0.254']);
    assert.deepEqual(free(r('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), [a('::')]), ['::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']);
    assert.deepEqual(free(r('0.0.0.0', '255.255.255.255'), [a('255.255.255.255')]), ['0.0.0.0-255.255.255.254']);
  });

  test('refuses unsorted or foreign-family input', () => {
    assert.throws(() => free(r('10.0.0.0', '10.0.0.255'), [a('10.0.0.5'), a('10.0.0.4')]), /not sorted: 10.0.0.4-10.0.0.4/);
    assert.throws(() => free(r('10.0.0.0', '10.0.0.255'), [a('::1')]), RangeError);
  });

  test('reads used addresses only as far as needed: a /64 costs a few rows', () => {
    const within = usableRange(parsePrefix('2001:db8::/64'));
    function* used(): Generator<IpAddress> {
      yield* [a('2001:db8::1'), a('2001:db8::2'), a('2001:db8::4')];
      throw new Error('read past the first gap');
    }
    assert.equal(formatAddress(firstFreeAddress(within, used())!), '2001:db8::3');
    const ranges = [...freeRanges(within, [a('2001:db8::1'), a('2001:db8::2'), a('2001:db8::4')])];
    assert.deepEqual(ranges.map(formatRange), ['2001:db8::3-2001:db8::3', '2001:db8::5-2001:db8::ffff:ffff:ffff:ffff']);
    assert.equal(rangeSize(ranges[1]!), 2n ** 64n - 5n);
  });

  test('firstFreeAddress is undefined when all are used', () => {
    const within = usableRange(parsePrefix('192.0.2.0/29'));
    const all = [1, 2, 3, 4, 5, 6].map((host) => a(`192.0.2.${host}`));
    assert.equal(firstFreeAddress(within, all), undefined);
    assert.equal(formatAddress(firstFreeAddress(within, all.slice(1))!), '192.0.2.1');
  });

  // A small window somewhere in either space, and sorted used items around and inside it.
  const scenario = fc.constantFrom<IpFamily>(4, 6).chain((family) =>
    fc.tuple(fc.bigInt(0n, span(family) - 1n), fc.bigInt(0n, 200n)).chain(([base, width]) => {
      const low = base + width < span(family) ? base : span(family) - 1n - width;
      const near = fc.bigInt(low > 5n ? low - 5n : 0n, low + width + 5n < span(family) ? low + width + 5n : span(family) - 1n);
      const item = fc.oneof(
        near.map((value): IpAddress | IpRange => addressOf(family, value)),
        fc.tuple(near, near).map(([x, y]): IpAddress | IpRange => ({
          start: addressOf(family, x < y ? x : y),
          end: addressOf(family, x < y ? y : x),
        })),
      );
      const within = { start: addressOf(family, low), end: addressOf(family, low + width) };
      return fc.tuple(fc.constant(within), fc.array(item, { maxLength: 30 }).map((items) => items.sort((x, y) => (startOf(x) < startOf(y) ? -1 : 1))));
    }),
  );

  test('the free ranges are exactly the complement, as maximal runs', () => {
    fc.assert(
      fc.property(scenario, ([within, used]) => {
        const runs: Array<[bigint, bigint]> = [];
        for (let value = within.start.value; value <= within.end.value; value++) {
          if (used.some((item) => startOf(item) <= value && value <= endOf(item))) continue;
          const last = runs.at(-1);
          if (last !== undefined && last[1] === value - 1n) last[1] = value;
          else runs.push([value, value]);
        }
        assert.deepEqual([...freeRanges(within, used)].map((range) => [range.start.value, range.end.value]), runs);
        assert.equal(firstFreeAddress(within, used)?.value, runs[0]?.[0]);
      }),
      { numRuns: 1000 },
    );
  });

  test('in a huge space, free and used sizes add up and free ranges are apart', () => {
    const within = r('2001:db8::', '2001:db8::ffff:ffff:ffff:ffff');
    const inside = fc.bigInt(within.start.value - 10n, within.end.value + 10n);
    const item = fc.oneof(
      inside.map((value): IpAddress | IpRange => addressOf(6, value)),
      fc.tuple(inside, fc.bigInt(0n, 2n ** 60n)).map(([start, size]): IpAddress | IpRange => ({
        start: addressOf(6, start),
        end: addressOf(6, start + size),
      })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 50 }), (items) => {
        const used = items.sort((x, y) => (startOf(x) < startOf(y) ? -1 : 1));
        const ranges = [...freeRanges(within, used)];
        let free = 0n;
        ranges.forEach((range, index) => {
          free += rangeSize(range);
          assert.ok(compareAddresses(range.start, range.end) <= 0);
          const next = ranges[index + 1];
          if (next !== undefined) assert.ok(next.start.value > range.end.value + 1n, 'apart, else they would be one');
          assert.equal(coveredCount(used, range.start.value, range.end.value), 0n, 'nothing used inside');
        });
        assert.equal(free + coveredCount(used, within.start.value, within.end.value), rangeSize(within));
      }),
      { numRuns: 500 },
    );
  });
});

describe('availablePrefixes follows NetBox available-prefixes', () => {
  const available = (parent: string, children: string[]): string[] =>
    [...availablePrefixes(parsePrefix(parent), children.map((text) => parsePrefix(text)))].map(formatPrefix);

  test('examples', () => {
    assert.deepEqual(available('10.0.0.0/16', ['10.0.0.0/24', '10.0.2.0/24']), ['10.0.1.0/24', '10.0.3.0/24', '10.0.4.0/22',
      '10.0.8.0/21', '10.0.16.0/20', '10.0.32.0/19', '10.0.64.0/18', '10.0.128.0/17']);
    assert.deepEqual(available('10.0.0.0/24', []), ['10.0.0.0/24']);
    assert.deepEqual(available('10.0.0.0/24', ['10.0.0.0/25', '10.0.0.0/26', '10.0.0.128/25']), []);
    assert.deepEqual(available('10.0.0.0/30', ['10.0.0.1/32']), ['10.0.0.0/32', '10.0.0.2/31']);
    assert.deepEqual(available('2001:db8::/32', ['2001:db8::/48', '2001:db8:1::/64']), ['2001:db8:1:1::/64', '2001:db8:1:2::/63',
      '2001:db8:1:4::/62', '2001:db8:1:8::/61', '2001:db8:1:10::/60', '2001:db8:1:20::/59', '2001:db8:1:40::/58',
      '2001:db8:1:80::/57', '2001:db8:1:100::/56', '2001:db8:1:200::/55', '2001:db8:1:400::/54', '2001:db8:1:800::/53',
      '2001:db8:1:1000::/52', '2001:db8:1:2000::/51', '2001:db8:1:4000::/50', '2001:db8:1:8000::/49', '2001:db8:2::/47',
      '2001:db8:4::/46', '2001:db8:8::/45', '2001:db8:10::/44', '2001:db8:20::/43', '2001:db8:40::/42', '2001:db8:80::/41',
      '2001:db8:100::/40', '2001:db8:200::/39', '2001:db8:400::/38', '2001:db8:800::/37', '2001:db8:1000::/36',
      '2001:db8:2000::/35', '2001:db8:4000::/34', '2001:db8:8000::/33']);
    assert.deepEqual(available('::/0', ['::/1']), ['8000::/1']);
  });

  const family = fc.constantFrom<IpFamily>(4, 6);
  const parentAndChildren = family.chain((fam) =>
    fc.tuple(fc.bigInt(0n, span(fam) - 1n), fc.integer({ min: 0, max: addressBits(fam) })).chain(([value, length]) => {
      const parent = prefixContaining(addressOf(fam, value), length);
      const { start, end } = prefixRange(parent);
      const child = fc
        .tuple(fc.bigInt(start.value, end.value), fc.integer({ min: length, max: addressBits(fam) }))
        .map(([inner, childLength]) => prefixContaining(addressOf(fam, inner), childLength));
      return fc.tuple(fc.constant(parent), fc.array(child, { maxLength: 12 }).map((children) => children.sort(comparePrefixes)));
    }),
  );

  test('blocks are aligned, disjoint, maximal and cover exactly the free space', () => {
    fc.assert(
      fc.property(parentAndChildren, ([parent, children]) => {
        const blocks = [...availablePrefixes(parent, children)];
        let free = 0n;
        blocks.forEach((block, index) => {
          free += prefixSize(block);
          assert.deepEqual(prefixContaining(block.network, block.length), block, 'aligned');
          assert.ok(prefixContainsPrefix(parent, block), 'inside the parent');
          assert.ok(!children.some((child) => prefixesOverlap(child, block)), 'clear of every child');
          const next = blocks[index + 1];
          if (next !== undefined) assert.ok(comparePrefixes(block, next) < 0 && !prefixesOverlap(block, next), 'ordered and disjoint');
          if (block.length > parent.length) {
            const wider = supernet(block);
            assert.ok(children.some((child) => prefixesOverlap(child, wider)), `maximal: ${formatPrefix(wider)} would fit`);
          }
        });
        const used = coveredCount(children.map(prefixRange), prefixRange(parent).start.value, prefixRange(parent).end.value);
        assert.equal(free + used, prefixSize(parent), 'free and used make the whole');
      }),
      { numRuns: 1000 },
    );
  });
});
