import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { numberToDottedQuad, parseAddress, parseDottedQuad, parsePrefix, prefixContainsAddress } from '../../core/net/index.js';
import { compileSubnet, inPool, isHostAddress, subnetContains } from './subnet.js';
import { lanSubnet } from './engine-fixture.js';

describe('IPv4 numbers', () => {
  test('round trip, and agree with core/net', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        const value = parseDottedQuad(address);
        assert.equal(numberToDottedQuad(value), address);
        assert.equal(BigInt(value), parseAddress(address).value);
      }),
      { numRuns: 1000 },
    );
    assert.equal(parseDottedQuad('255.255.255.255'), 0xffffffff);
    assert.throws(() => parseDottedQuad('10.0.0.01'), RangeError);
  });

  test('subnetContains agrees with core/net for every prefix length', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (base, length, address) => {
        const value = parseDottedQuad(base);
        const network = length === 0 ? 0 : (value & (0xffffffff << (32 - length))) >>> 0;
        const cidr = `${numberToDottedQuad(network)}/${length}`;
        const subnet = compileSubnet(lanSubnet({ network: cidr, pools: [] }));
        assert.equal(subnetContains(subnet, parseDottedQuad(address)), prefixContainsAddress(parsePrefix(cidr), parseAddress(address)));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('compileSubnet', () => {
  test('pools are sorted and clipped to the host addresses', () => {
    const subnet = compileSubnet(
      lanSubnet({
        pools: [
          { start: '10.0.0.200', end: '10.0.0.255' },
          { start: '10.0.0.0', end: '10.0.0.9' },
        ],
      }),
    );
    assert.deepEqual(
      subnet.pools.map((pool) => [numberToDottedQuad(pool.start), numberToDottedQuad(pool.end)]),
      [
        ['10.0.0.1', '10.0.0.9'],
        ['10.0.0.200', '10.0.0.254'],
      ],
    );
    assert.equal(isHostAddress(subnet, parseDottedQuad('10.0.0.0')), false);
    assert.equal(isHostAddress(subnet, parseDottedQuad('10.0.0.255')), false);
    assert.equal(inPool(subnet, parseDottedQuad('10.0.0.5')), true);
    assert.equal(inPool(subnet, parseDottedQuad('10.0.0.100')), false);
  });

  test('a /31 and a /32 have no network or broadcast address to leave out', () => {
    const pair = compileSubnet(lanSubnet({ network: '10.0.0.4/31', pools: [{ start: '10.0.0.4', end: '10.0.0.5' }] }));
    assert.deepEqual(pair.pools, [{ start: parseDottedQuad('10.0.0.4'), end: parseDottedQuad('10.0.0.5') }]);
  });

  test('is computed once per configuration object', () => {
    const config = lanSubnet();
    assert.equal(compileSubnet(config), compileSubnet(config));
  });

  test('refuses what it cannot serve, naming the field', () => {
    assert.throws(() => compileSubnet(lanSubnet({ network: '2001:db8::/64' })), /not IPv4/);
    assert.throws(() => compileSubnet(lanSubnet({ pools: [{ start: '10.0.0.9', end: '10.0.0.1' }] })), /pools\[0\]/);
    assert.throws(() => compileSubnet(lanSubnet({ router: '10.0.0.256' })), RangeError);
  });
});
