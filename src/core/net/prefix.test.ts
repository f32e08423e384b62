import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addressBits, addressOf, formatAddress, InvalidAddressError, parseAddress, type IpFamily } from './address.js';
import {
  comparePrefixes,
  formatAddressWithMask,
  formatPrefix,
  lastAddress,
  netmask,
  networkOf,
  parseAddressWithMask,
  parsePrefix,
  prefixContaining,
  prefixContainsAddress,
  prefixContainsPrefix,
  prefixesOverlap,
  prefixRange,
  prefixSize,
  rangeToPrefixes,
  subnets,
  supernet,
  type IpPrefix,
} from './prefix.js';
import { formatRange, rangeContains, type IpRange } from './range.js';

const p = (text: string): IpPrefix => parsePrefix(text);
const texts = (prefixes: Iterable<IpPrefix>): string[] => [...prefixes].map(formatPrefix);
const span = (family: IpFamily): bigint => 2n ** BigInt(addressBits(family));

const anyPrefix: fc.Arbitrary<IpPrefix> = fc
  .constantFrom<IpFamily>(4, 6)
  .chain((family) =>
    fc.tuple(fc.bigInt(0n, span(family) - 1n), fc.integer({ min: 0, max: addressBits(family) })).map(([value, length]) =>
      prefixContaining(addressOf(family, value), length),
    ),
  );

// Ranges of every size, including tiny ones and ones touching the ends of the space.
const anyRange: fc.Arbitrary<IpRange> = fc.constantFrom<IpFamily>(4, 6).chain((family) => {
  const value = fc.oneof(fc.bigInt(0n, span(family) - 1n), fc.constantFrom(0n, span(family) - 1n));
  return fc
    .tuple(value, fc.oneof(value, fc.bigInt(0n, 300n)))
    .map(([a, b]) => {
      const [low, high] = b <= 300n ? [a, a + b < span(family) ? a + b : span(family) - 1n] : a <= b ? [a, b] : [b, a];
      return { start: addressOf(family, low), end: addressOf(family, high) };
    });
});

describe('parsePrefix', () => {
  test('reads CIDR text, including the edges', () => {
    for (const text of ['10.0.0.0/24', '2001:db8::/48', '0.0.0.0/0', '::/0', '10.0.0.1/32', '::1/128', '10.0.0.2/31',
      '2001:db8::2/127', '::ffff:10.0.0.0/104']) {
      assert.equal(formatPrefix(p(text)), text);
    }
    assert.deepEqual(p('2001:DB8:0::/48'), { network: parseAddress('2001:db8::'), length: 48 });
  });

  test('rejects host bits, naming the network meant', () => {
    assert.throws(() => parsePrefix('10.0.0.5/24', 'body.prefix'), {
      name: 'InvalidAddressError',
      message: 'body.prefix: "10.0.0.5/24" is not a prefix: host bits are set (the network is 10.0.0.0/24)',
    });
    assert.throws(() => p('2001:db8::1/64'), /the network is 2001:db8::\/64/);
    assert.throws(() => p('0.0.0.1/0'), /the network is 0.0.0.0\/0/);
  });

  test('rejects malformed lengths and addresses, naming the whole input', () => {
    const cases: Array<[string, RegExp]> = [
      ['10.0.0.0', /'\/length' is missing/],
      ['10.0.0.0/', /'\/' is not a prefix length/],
      ['10.0.0.0/33', /\/33 is longer than the 32 bits of an IPv4 address/],
      ['::/129', /\/129 is longer than the 128 bits/],
      ['10.0.0.0/024', /'\/024' is not a prefix length/],
      ['10.0.0.0/-1', /not a prefix length/],
      ['10.0.0.0/ 24', /not a prefix length/],
      ['10.0.0.0/24/1', /'\/24\/1' is not a prefix length/],
      ['10.0.0.0/255.255.255.0', /not a prefix length/],
      ['10.0.0.256/24', /octet 256 is above 255/],
      ['/24', /empty/],
    ];
    for (const [input, reason] of cases) {
      assert.throws(() => p(input), (error: unknown) => {
        assert.ok(error instanceof InvalidAddressError, input);
        assert.equal(error.input, input);
        assert.ok(error.message.startsWith(`${JSON.stringify(input)} is not a prefix: `), error.message);
        assert.match(error.message, reason, input);
        return true;
      });
    }
  });

  test('NetBox IP addresses keep their host bits with the mask', () => {
    const address = parseAddressWithMask('10.0.0.5/24');
    assert.deepEqual(address, { address: parseAddress('10.0.0.5'), length: 24 });
    assert.equal(formatPrefix(networkOf(address)), '10.0.0.0/24');
    assert.equal(formatAddressWithMask(parseAddressWithMask('2001:DB8::5/64')), '2001:db8::5/64');
    assert.throws(() => parseAddressWithMask('10.0.0.5'), /is not an IP address with mask: the '\/length' is missing/);
  });

  test('round trips', () => {
    fc.assert(fc.property(anyPrefix, (prefix) => assert.deepEqual(p(formatPrefix(prefix)), prefix)), { numRuns: 1000 });
  });
});

describe('prefix arithmetic', () => {
  test('last address, size and netmask', () => {
    const cases: Array<[string, string, bigint, string]> = [
      ['10.0.0.0/24', '10.0.0.255', 256n, '255.255.255.0'],
      ['10.0.0.4/31', '10.0.0.5', 2n, '255.255.255.254'],
      ['10.0.0.7/32', '10.0.0.7', 1n, '255.255.255.255'],
      ['0.0.0.0/0', '255.255.255.255', 2n ** 32n, '0.0.0.0'],
      ['2001:db8::/64', '2001:db8::ffff:ffff:ffff:ffff', 2n ** 64n, 'ffff:ffff:ffff:ffff::'],
      ['2001:db8::/127', '2001:db8::1', 2n, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe'],
      ['::1/128', '::1', 1n, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
      ['::/0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 2n ** 128n, '::'],
    ];
    for (const [text, last, size, mask] of cases) {
      assert.equal(formatAddress(lastAddress(p(text))), last, text);
      assert.equal(prefixSize(p(text)), size, text);
      assert.equal(formatAddress(netmask(p(text))), mask, text);
      assert.equal(formatRange(prefixRange(p(text))), `${formatAddress(p(text).network)}-${last}`);
    }
  });

  test('containment and overlap', () => {
    assert.ok(prefixContainsAddress(p('10.0.0.0/24'), parseAddress('10.0.0.255')));
    assert.ok(!prefixContainsAddress(p('10.0.0.0/24'), parseAddress('10.0.1.0')));
    assert.ok(prefixContainsAddress(p('0.0.0.0/0'), parseAddress('255.255.255.255')));
    assert.ok(!prefixContainsAddress(p('0.0.0.0/0'), parseAddress('::')), 'families never mix');
    assert.ok(!prefixContainsAddress(p('::/0'), parseAddress('10.0.0.1')));
    assert.ok(!prefixContainsAddress(p('::ffff:0:0/96'), parseAddress('10.0.0.1')), 'mapped space is IPv6');
    assert.ok(prefixContainsPrefix(p('10.0.0.0/8'), p('10.1.0.0/16')));
    assert.ok(prefixContainsPrefix(p('10.0.0.0/8'), p('10.0.0.0/8')));
    assert.ok(!prefixContainsPrefix(p('10.1.0.0/16'), p('10.0.0.0/8')));
    assert.ok(prefixesOverlap(p('10.1.0.0/16'), p('10.0.0.0/8')));
    assert.ok(!prefixesOverlap(p('10.0.0.0/25'), p('10.0.0.128/25')));
    assert.ok(!prefixesOverlap(p('0.0.0.0/0'), p('::/0')));
  });

  test('containment agrees with the address range', () => {
    fc.assert(
      fc.property(anyPrefix, anyPrefix, (a, b) => {
        const [ra, rb] = [prefixRange(a), prefixRange(b)];
        assert.equal(prefixContainsAddress(a, b.network), rangeContains(ra, b.network));
        assert.equal(prefixContainsPrefix(a, b), rangeContains(ra, rb.start) && rangeContains(ra, rb.end));
        assert.equal(prefixesOverlap(a, b), rangeContains(ra, rb.start) || rangeContains(rb, ra.start));
      }),
      { numRuns: 1000 },
    );
  });

  test('subnets lazily, supernets up to /0', () => {
    assert.deepEqual(texts(subnets(p('10.0.0.0/24'), 26)), ['10.0.0.0/26', '10.0.0.64/26', '10.0.0.128/26', '10.0.0.192/26']);
    assert.deepEqual(texts(subnets(p('10.0.0.0/24'), 24)), ['10.0.0.0/24']);
    const hosts = subnets(p('2001:db8::/64'), 128);
    assert.deepEqual(texts([hosts.next().value!, hosts.next().value!]), ['2001:db8::/128', '2001:db8::1/128']);
    assert.throws(() => subnets(p('10.0.0.0/24'), 23).next(), RangeError);
    assert.throws(() => subnets(p('10.0.0.0/24'), 33).next(), RangeError);
    assert.equal(formatPrefix(supernet(p('10.0.1.0/24'))), '10.0.0.0/23');
    assert.equal(formatPrefix(supernet(p('10.0.1.0/24'), 8)), '10.0.0.0/8');
    assert.equal(formatPrefix(supernet(p('2001:db8::/48'), 0)), '::/0');
    assert.throws(() => supernet(p('::/0')), RangeError);
    assert.throws(() => supernet(p('10.0.0.0/24'), 25), RangeError);
  });

  test('parents sort before their children', () => {
    const sorted = ['11.0.0.0/8', '10.0.1.0/24', '::/0', '10.0.0.0/24', '10.0.0.0/8'].map(p).sort(comparePrefixes);
    assert.deepEqual(texts(sorted), ['10.0.0.0/8', '10.0.0.0/24', '10.0.1.0/24', '11.0.0.0/8', '::/0']);
  });
});

describe('rangeToPrefixes', () => {
  const cover = (start: string, end: string): string[] =>
    texts(rangeToPrefixes({ start: parseAddress(start), end: parseAddress(end) }));

  test('examples', () => {
    assert.deepEqual(cover('10.0.0.1', '10.0.0.6'), ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']);
    assert.deepEqual(cover('10.0.0.0', '10.0.0.255'), ['10.0.0.0/24']);
    assert.deepEqual(cover('10.0.0.7', '10.0.0.7'), ['10.0.0.7/32']);
    assert.deepEqual(cover('0.0.0.0', '255.255.255.255'), ['0.0.0.0/0']);
    assert.deepEqual(cover('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), ['::/0']);
    assert.deepEqual(cover('0.0.0.1', '255.255.255.255').length, 32);
    assert.deepEqual(cover('2001:db8::1', '2001:db8::ffff:ffff:ffff:ffff').length, 64);
  });

  test('blocks are aligned, maximal, in order, and cover exactly the range', () => {
    fc.assert(
      fc.property(anyRange, (range) => {
        const blocks = [...rangeToPrefixes(range)];
        assert.ok(blocks.length <= 2 * addressBits(range.start.family));
        let expected = range.start.value;
        for (const block of blocks) {
          assert.deepEqual(prefixContaining(block.network, block.length), block, 'aligned');
          assert.equal(block.network.value, expected, 'contiguous');
          expected = lastAddress(block).value + 1n;
          if (block.length > 0) {
            const parent = prefixRange(supernet(block));
            assert.ok(!(rangeContains(range, parent.start) && rangeContains(range, parent.end)), 'maximal');
          }
        }
        assert.equal(expected, range.end.value + 1n, 'ends at the end');
      }),
      { numRuns: 2000 },
    );
  });
});
