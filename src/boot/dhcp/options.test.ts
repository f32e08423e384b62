import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeClasslessRoutes,
  decodeClientArchitectures,
  decodeClientNdi,
  decodeClientUuid,
  decodeDomainSearch,
  decodeIpv4List,
  decodeRelayAgentInfo,
  decodeSubOptions,
  decodeText,
  decodeUint16,
  decodeUint32,
  decodeUserClass,
  encodeClasslessRoutes,
  encodeDomainSearch,
  encodeIpv4,
  encodeIpv4List,
  encodePxeVendorOptions,
  encodeSubOptions,
  encodeText,
  encodeUint16,
  encodeUint32,
  PxeDiscoveryControl,
  PxeVendorOption,
  type ClasslessRoute,
} from './options.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytesOf = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

describe('addresses and integers', () => {
  test('IPv4 addresses encode as 4 bytes each', () => {
    assert.equal(hex(encodeIpv4('10.0.0.1')), '0a000001');
    assert.equal(hex(encodeIpv4List(['192.0.2.1', '255.255.255.0'])), 'c0000201ffffff00');
    assert.deepEqual(decodeIpv4List(bytesOf('c0000201ffffff00')), ['192.0.2.1', '255.255.255.0']);
  });

  test('malformed IPv4 text is a RangeError', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', 'a.b.c.d']) {
      assert.throws(() => encodeIpv4(bad), RangeError, bad);
    }
  });

  test('IPv4 lists must be whole addresses', () => {
    assert.equal(decodeIpv4List(new Uint8Array(0)), undefined);
    assert.equal(decodeIpv4List(new Uint8Array(5)), undefined);
  });

  test('integers are big-endian and range-checked', () => {
    assert.equal(hex(encodeUint16(1472)), '05c0');
    assert.equal(hex(encodeUint32(86400)), '00015180');
    assert.equal(hex(encodeUint32(0xffffffff)), 'ffffffff');
    assert.equal(decodeUint32(bytesOf('ffffffff')), 0xffffffff);
    assert.equal(decodeUint16(bytesOf('05c0')), 1472);
    assert.equal(decodeUint16(bytesOf('05')), undefined);
    assert.throws(() => encodeUint32(-1), RangeError);
    assert.throws(() => encodeUint16(65536), RangeError);
    assert.throws(() => encodeUint32(1.5), RangeError);
  });

  test('text stops at a NUL and survives invalid UTF-8', () => {
    assert.equal(decodeText(encodeText('node01')), 'node01');
    assert.equal(decodeText(bytesOf('6e6f646500ffff')), 'node');
    assert.equal(decodeText(bytesOf('ff61')), '\ufffda');
  });
});

describe('client options', () => {
  test('user class: iPXE bare string', () => {
    assert.deepEqual(decodeUserClass(encodeText('iPXE')), ['iPXE']);
  });

  test('user class: RFC 3004 length-prefixed list', () => {
    assert.deepEqual(decodeUserClass(bytesOf('04 69505845 03 616263')), ['iPXE', 'abc']);
  });

  test('user class: prefixes that do not tile the value mean a plain string', () => {
    assert.deepEqual(decodeUserClass(bytesOf('05 69505845')), ['\u0005iPXE']);
    assert.deepEqual(decodeUserClass(bytesOf('00 6162')), ['']);
    assert.equal(decodeUserClass(new Uint8Array(0)), undefined);
  });

  test('client architecture list (RFC 4578 2.1)', () => {
    assert.deepEqual(decodeClientArchitectures(bytesOf('0000')), [0]);
    assert.deepEqual(decodeClientArchitectures(bytesOf('00070009000b')), [7, 9, 11]);
    assert.equal(decodeClientArchitectures(bytesOf('000')), undefined);
    assert.equal(decodeClientArchitectures(bytesOf('00')), undefined);
  });

  test('client NDI and UUID (RFC 4578 2.2, 2.3)', () => {
    assert.deepEqual(decodeClientNdi(bytesOf('010201')), { type: 1, major: 2, minor: 1 });
    assert.equal(decodeClientNdi(bytesOf('0102')), undefined);
    assert.equal(
      decodeClientUuid(bytesOf('00 00112233 4455 6677 8899 aabbccddeeff')),
      '00112233-4455-6677-8899-aabbccddeeff',
    );
    assert.equal(decodeClientUuid(bytesOf('01 00112233 4455 6677 8899 aabbccddeeff')), undefined);
    assert.equal(decodeClientUuid(bytesOf('00 00112233')), undefined);
  });

  test('relay agent information: circuit and remote id, raw kept for echo (RFC 3046)', () => {
    const raw = bytesOf('01 06 657468302f31  02 04 c0000201  09 02 abcd');
    const info = decodeRelayAgentInfo(raw);
    assert.ok(info);
    assert.equal(decodeText(info.circuitId ?? new Uint8Array()), 'eth0/1');
    assert.equal(hex(info.remoteId ?? new Uint8Array()), 'c0000201');
    assert.equal(hex(info.subOptions.get(9) ?? new Uint8Array()), 'abcd');
    assert.equal(info.raw, raw);
    assert.equal(decodeRelayAgentInfo(bytesOf('01 06 6574')), undefined);
    assert.equal(decodeRelayAgentInfo(new Uint8Array(0)), undefined);
  });

  test('sub-options: dhcp form honours pad and end, tlv form does not', () => {
    const raw = bytesOf('00 13 01 01 ff 99');
    assert.deepEqual([...(decodeSubOptions(raw, 'dhcp') ?? [])], [[0x13, Uint8Array.of(1)]]);
    assert.equal(decodeSubOptions(raw, 'tlv'), undefined);
    assert.deepEqual(decodeSubOptions(bytesOf('01 01 61 01 01 62'), 'tlv'), new Map([[1, encodeText('ab')]]));
  });
});

describe('server options', () => {
  test('PXE vendor options: discovery control 8 for ProxyDHCP, then PXE end', () => {
    const value = encodePxeVendorOptions([[PxeVendorOption.discoveryControl, Uint8Array.of(PxeDiscoveryControl.skipDiscovery)]]);
    assert.equal(hex(value), '060108ff');
  });

  test('sub-options over 255 bytes are refused', () => {
    assert.throws(() => encodeSubOptions([[1, new Uint8Array(256)]]), RangeError);
    assert.equal(hex(encodeSubOptions([[1, encodeText('a')], [2, new Uint8Array(0)]])), '0101610200');
  });

  test('domain search: the RFC 3397 example, with a compression pointer', () => {
    const value = encodeDomainSearch(['eng.apple.com.', 'marketing.apple.com.']);
    assert.equal(hex(value), hex(bytesOf('03656e67056170706c6503636f6d00 096d61726b6574696e67c004')));
    assert.equal(value.length, 27);
    assert.deepEqual(decodeDomainSearch(value), ['eng.apple.com', 'marketing.apple.com']);
  });

  test('domain search: a repeated whole name is one pointer', () => {
    const value = encodeDomainSearch(['example.com', 'example.com', 'lab.example.com']);
    assert.equal(hex(value), hex(bytesOf('076578616d706c6503636f6d00 c000 036c6162c000')));
    assert.deepEqual(decodeDomainSearch(value), ['example.com', 'example.com', 'lab.example.com']);
  });

  test('domain search: bad labels are refused, pointer loops and overruns are not decoded', () => {
    assert.throws(() => encodeDomainSearch(['a..b']), RangeError);
    assert.throws(() => encodeDomainSearch([`${'a'.repeat(64)}.com`]), RangeError);
    assert.equal(decodeDomainSearch(bytesOf('c000')), undefined);
    assert.equal(decodeDomainSearch(bytesOf('0161c000')), undefined);
    assert.equal(decodeDomainSearch(bytesOf('0561')), undefined);
    assert.equal(decodeDomainSearch(bytesOf('0161')), undefined);
  });

  test('domain search round trip', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const domain = fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.'));
    fc.assert(
      fc.property(fc.array(domain, { maxLength: 8 }), (domains) => {
        assert.deepEqual(decodeDomainSearch(encodeDomainSearch(domains)), domains);
      }),
      { numRuns: 500 },
    );
  });

  test('classless static routes: the RFC 3442 descriptor examples', () => {
    const routes: ClasslessRoute[] = [
      { destination: '0.0.0.0', prefixLength: 0, router: '10.0.0.1' },
      { destination: '10.0.0.0', prefixLength: 8, router: '10.0.0.2' },
      { destination: '10.0.0.0', prefixLength: 24, router: '10.0.0.3' },
      { destination: '10.17.0.0', prefixLength: 16, router: '10.0.0.4' },
      { destination: '10.27.129.0', prefixLength: 24, router: '10.0.0.5' },
      { destination: '10.229.0.128', prefixLength: 25, router: '10.0.0.6' },
      { destination: '10.198.122.47', prefixLength: 32, router: '10.0.0.7' },
    ];
    const expected =
      '00 0a000001  080a 0a000002  180a0000 0a000003  100a11 0a000004  180a1b81 0a000005  190ae50080 0a000006' +
      '  200ac67a2f 0a000007';
    const value = encodeClasslessRoutes(routes);
    assert.equal(hex(value), hex(bytesOf(expected)));
    assert.deepEqual(decodeClasslessRoutes(value), routes);
  });

  test('classless static routes: host bits and bad lengths are refused', () => {
    assert.throws(() => encodeClasslessRoutes([{ destination: '10.0.0.1', prefixLength: 24, router: '10.0.0.1' }]), RangeError);
    assert.throws(() => encodeClasslessRoutes([{ destination: '10.0.0.0', prefixLength: 33, router: '10.0.0.1' }]), RangeError);
    assert.equal(decodeClasslessRoutes(bytesOf('21 0a000000 0a000001')), undefined);
    assert.equal(decodeClasslessRoutes(bytesOf('18 0a0000 0a0000')), undefined);
  });
});
