import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvalidError } from '../errors.js';
import {
  addressFromBytes,
  addressFromKey,
  addressKey,
  addressOf,
  addressToBytes,
  compareAddresses,
  formatAddress,
  InvalidAddressError,
  nextAddress,
  parseAddress,
  previousAddress,
  unmapIpv4,
  type IpAddress,
} from './address.js';

const canonical = (text: string): string => formatAddress(parseAddress(text));

// Dense values, and IPv6 built from few distinct groups so that zero runs (and ::ffff:) are common.
const anyAddress: fc.Arbitrary<IpAddress> = fc.oneof(
  fc.bigInt(0n, 2n ** 32n - 1n).map((value) => addressOf(4, value)),
  fc.bigInt(0n, 2n ** 128n - 1n).map((value) => addressOf(6, value)),
  fc
    .array(fc.constantFrom<bigint>(0n, 0n, 0n, 1n, 0xdb8n, 0xffffn), { minLength: 8, maxLength: 8 })
    .map((groups) => addressOf(6, groups.reduce((value, group) => (value << 16n) | group, 0n))),
);

/** The WHATWG URL serializer compresses IPv6 as RFC 5952 does, but never writes dotted IPv4 tails. */
const urlHost = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('RFC 5952 canonical text', () => {
  test('section 4.1: leading zeros are suppressed', () => {
    assert.equal(canonical('2001:0db8::0001'), '2001:db8::1');
    for (const tail of ['0001', '001', '01', '1']) {
      assert.equal(canonical(`2001:db8:aaaa:bbbb:cccc:dddd:eeee:${tail}`), '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1');
    }
  });
  test('section 4.2.1: "::" is used to its maximum', () => {
    assert.equal(canonical('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
    assert.equal(canonical('2001:db8::0:1'), '2001:db8::1');
  });
  test('section 4.2.2: a single 16-bit 0 field is not shortened', () => {
    assert.equal(canonical('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(canonical('2001:db8::1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  });
  test('section 4.2.3: the longest run is shortened, the first of equal runs', () => {
    assert.equal(canonical('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
    assert.equal(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  });
  test('section 4.3: hex digits are lower case', () => {
    assert.equal(canonical('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonical('2001:db8::AAAA:0:0:1'), '2001:db8::aaaa:0:0:1');
  });
  test('section 2 variants of one address agree', () => {
    const forms = ['2001:db8:0:0:1:0:0:1', '2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', '2001:db8::0:1:0:0:1',
      '2001:0db8::1:0:0:1', '2001:db8:0:0:1::1', '2001:db8:0000:0:1::1', '2001:DB8:0:0:1::1'];
    for (const form of forms) assert.equal(canonical(form), '2001:db8::1:0:0:1', form);
  });
  test('section 5: IPv4-mapped addresses keep a dotted tail', () => {
    assert.equal(canonical('0:0:0:0:0:ffff:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(canonical('::FFFF:c000:0201'), '::ffff:192.0.2.1');
    assert.equal(canonical('::ffff:0:0'), '::ffff:0.0.0.0');
  });
  test('the edges of the space', () => {
    assert.equal(canonical('::'), '::');
    assert.equal(canonical('0:0:0:0:0:0:0:0'), '::');
    assert.equal(canonical('::1'), '::1');
    assert.equal(canonical('1::'), '1::');
    assert.equal(canonical('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
    assert.equal(canonical('FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF'), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    assert.equal(canonical('::1.2.3.4'), '::102:304'); // IPv4-compatible is deprecated: plain hex
  });
});

describe('parseAddress', () => {
  test('reads IPv4 and IPv6 into family and value', () => {
    assert.deepEqual(parseAddress('0.0.0.0'), { family: 4, value: 0n });
    assert.deepEqual(parseAddress('255.255.255.255'), { family: 4, value: 0xffffffffn });
    assert.deepEqual(parseAddress('10.1.2.3'), { family: 4, value: 0x0a010203n });
    assert.deepEqual(parseAddress('::ffff:1.2.3.4'), { family: 6, value: 0xffff01020304n });
    assert.deepEqual(parseAddress('2001:db8::'), { family: 6, value: 0x20010db8n << 96n });
  });

  test('rejects malformed text with the input and the reason in the message', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['010.0.0.1', /octet '010' has a leading zero/],
      ['10.0.0.01', /leading zero/],
      ['256.0.0.0', /octet 256 is above 255/],
      ['1.2.3', /4 dot-separated octets, found 3/],
      ['1.2.3.4.5', /found 5/],
      ['1..2.3', /octet is empty/],
      ['0x1.2.3.4', /'0x1' is not a number/],
      [' 1.2.3.4', /' 1' is not a number/],
      ['1.2.3.4 ', /'4 ' is not a number/],
      ['\u0661.2.3.4', /is not a number/],
      ['1:2:3:4:5:6:7:8:9', /8 groups, found 9/],
      ['1:2:3:4:5:6:7', /8 groups, found 7/],
      ['1::2::3', /'::' may appear only once/],
      [':::', /group is empty/],
      [':1::', /group is empty/],
      ['1:', /group is empty/],
      ['12345::', /'12345' is not 1 to 4 hex digits/],
      ['g::', /'g' is not 1 to 4 hex digits/],
      ['1:2:3:4:5:6:7:8::', /no room|too many groups/],
      ['::1%eth0', /zone/],
      ['::ffff:1.2.3.256', /octet 256/],
      ['::1.2.3.4:1', /'1.2.3.4' is not 1 to 4 hex digits/],
      ['1.2.3.4::', /'1.2.3.4' is not 1 to 4 hex digits/],
      ['10.0.0.0/24', /'0\/24' is not a number/],
    ];
    for (const [input, reason] of cases) {
      assert.throws(() => parseAddress(input), (error: unknown) => {
        assert.ok(error instanceof InvalidAddressError, input);
        assert.ok(error instanceof InvalidError, 'maps to HTTP 400 like every InvalidError');
        assert.equal(error.input, input);
        assert.match(error.message, reason, input);
        assert.ok(error.message.startsWith(`${JSON.stringify(input)} is not an IP address: `), error.message);
        return true;
      });
    }
  });

  test('names the field and cuts long input', () => {
    assert.throws(() => parseAddress('nope', 'body.address'), {
      name: 'InvalidAddressError',
      message: 'body.address: "nope" is not an IP address: an IPv4 address has 4 dot-separated octets, found 1',
      field: 'body.address',
    });
    assert.throws(() => parseAddress('1'.repeat(1000)), (error: unknown) => {
      assert.ok(error instanceof InvalidAddressError && error.message.length < 200);
      return true;
    });
  });

  test('accepts exactly what node:net accepts (zone indexes aside)', () => {
    const v6ish = fc
      .array(fc.constantFrom('0', '1', 'a', 'FFFF', '0db8', '00000', '', '', 'g', '1.2.3.4', '01.2.3.4', '1.2.3'), { maxLength: 10 })
      .map((parts) => parts.join(':'));
    const v4ish = fc
      .array(fc.constantFrom('0', '00', '1', '01', '99', '255', '256', '1000', '', ' 1', '+1'), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.join('.'));
    const noise = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 });
    fc.assert(
      fc.property(fc.oneof(v6ish, v4ish, noise), (text) => {
        let parsed: IpAddress | undefined;
        try {
          parsed = parseAddress(text);
        } catch (error) {
          assert.ok(error instanceof InvalidAddressError);
        }
        assert.equal(parsed?.family ?? 0, isIP(text), text);
        if (parsed?.family === 6) assert.equal(parseAddress(urlHost(text)).value, parsed.value, text);
      }),
      { numRuns: 3000 },
    );
  });

  test('reads every address fast-check writes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const address = parseAddress(text);
        assert.equal(address.family, isIP(text));
        assert.deepEqual(parseAddress(formatAddress(address)), address);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('formatAddress', () => {
  test('round trips: parse(format(a)) is a, and format is a fixed point', () => {
    fc.assert(
      fc.property(anyAddress, (address) => {
        const text = formatAddress(address);
        assert.deepEqual(parseAddress(text), address);
        assert.equal(canonical(text), text);
      }),
      { numRuns: 2000 },
    );
  });

  test('compresses as the WHATWG URL serializer does, outside ::ffff:0:0/96', () => {
    fc.assert(
      fc.property(anyAddress, (address) => {
        if (address.family !== 6 || address.value >> 32n === 0xffffn) return;
        assert.equal(formatAddress(address), urlHost(formatAddress(address)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('order and keys', () => {
  test('IPv4 sorts before IPv6, then by value', () => {
    const sorted = ['::', '10.0.0.2', '::ffff:0.0.0.1', '10.0.0.10', '9.255.255.255', '2001:db8::']
      .map((text) => parseAddress(text))
      .sort(compareAddresses)
      .map(formatAddress);
    assert.deepEqual(sorted, ['9.255.255.255', '10.0.0.2', '10.0.0.10', '::', '::ffff:0.0.0.1', '2001:db8::']);
  });

  test('keys are fixed width hex and read back', () => {
    assert.equal(addressKey(parseAddress('10.0.0.1')), '0a000001');
    assert.equal(addressKey(parseAddress('::1')), `${'0'.repeat(31)}1`);
    assert.equal(addressKey(parseAddress('::ffff:10.0.0.1')), '00000000000000000000ffff0a000001');
    assert.deepEqual(addressFromKey('0a000001'), parseAddress('10.0.0.1'));
    for (const bad of ['', 'a000001', '0A000001', '0a0000010', 'zzzzzzzz', '0'.repeat(31)]) {
      assert.throws(() => addressFromKey(bad, 'cursor'), /^InvalidAddressError: cursor: .* is not an address key/);
    }
  });

  test('(family, key) order is numeric order, and keys read back', () => {
    fc.assert(
      fc.property(anyAddress, anyAddress, (a, b) => {
        const byKey = a.family - b.family || (addressKey(a) < addressKey(b) ? -1 : addressKey(a) > addressKey(b) ? 1 : 0);
        assert.equal(Math.sign(byKey), Math.sign(compareAddresses(a, b)));
        assert.equal(addressKey(a).length, a.family === 4 ? 8 : 32);
        assert.deepEqual(addressFromKey(addressKey(a)), a);
      }),
      { numRuns: 2000 },
    );
  });

  test('next and previous stop at the edges of the space', () => {
    assert.equal(formatAddress(nextAddress(parseAddress('10.0.0.255'))!), '10.0.1.0');
    assert.equal(formatAddress(previousAddress(parseAddress('10.0.1.0'))!), '10.0.0.255');
    assert.equal(nextAddress(parseAddress('255.255.255.255')), undefined);
    assert.equal(previousAddress(parseAddress('0.0.0.0')), undefined);
    assert.equal(formatAddress(nextAddress(parseAddress('::ffff:ffff:ffff'))!), '::1:0:0:0');
    assert.equal(nextAddress(parseAddress('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')), undefined);
    assert.equal(previousAddress(parseAddress('::')), undefined);
    assert.throws(() => addressOf(4, 2n ** 32n), RangeError);
    assert.throws(() => addressOf(6, -1n), RangeError);
  });
});

describe('bytes and IPv4-mapped addresses', () => {
  test('network byte order both ways', () => {
    assert.deepEqual([...addressToBytes(parseAddress('192.0.2.1'))], [192, 0, 2, 1]);
    assert.deepEqual(addressFromBytes(Buffer.from([10, 0, 0, 1])), parseAddress('10.0.0.1'));
    assert.equal(formatAddress(addressFromBytes(new Uint8Array(16).fill(0xff))), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    assert.throws(() => addressFromBytes(new Uint8Array(6)), RangeError);
    fc.assert(fc.property(anyAddress, (address) => assert.deepEqual(addressFromBytes(addressToBytes(address)), address)));
  });

  test('unmapIpv4 gives the IPv4 address a dual-stack socket reports as ::ffff:a.b.c.d', () => {
    assert.deepEqual(unmapIpv4(parseAddress('::ffff:10.0.0.5')), parseAddress('10.0.0.5'));
    assert.deepEqual(unmapIpv4(parseAddress('::1')), parseAddress('::1'));
    assert.deepEqual(unmapIpv4(parseAddress('10.0.0.5')), parseAddress('10.0.0.5'));
    assert.deepEqual(unmapIpv4(parseAddress('1::ffff:10.0.0.5')), parseAddress('1::ffff:10.0.0.5'));
  });
});
