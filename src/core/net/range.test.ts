import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatAddress, InvalidAddressError, parseAddress } from './address.js';
import { addressesIn, formatRange, makeRange, rangeContains, rangeIntersection, rangeSize, type IpRange } from './range.js';

const r = (start: string, end: string): IpRange => makeRange(parseAddress(start), parseAddress(end));

describe('ranges', () => {
  test('makeRange checks family and order', () => {
    assert.equal(formatRange(r('10.0.0.10', '10.0.0.20')), '10.0.0.10-10.0.0.20');
    assert.equal(rangeSize(r('10.0.0.10', '10.0.0.10')), 1n);
    assert.throws(() => r('10.0.0.20', '10.0.0.10'), {
      name: 'InvalidAddressError',
      message: '"10.0.0.20-10.0.0.10" is not an IP range: the end is before the start',
    });
    assert.throws(() => makeRange(parseAddress('10.0.0.1'), parseAddress('::1'), 'body.end_address'), (error: unknown) => {
      assert.ok(error instanceof InvalidAddressError);
      assert.equal(error.field, 'body.end_address');
      assert.match(error.message, /different families/);
      return true;
    });
  });

  test('size, containment and intersection', () => {
    assert.equal(rangeSize(r('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')), 2n ** 128n);
    assert.equal(rangeSize(r('0.0.0.0', '255.255.255.255')), 2n ** 32n);
    assert.ok(rangeContains(r('10.0.0.10', '10.0.0.20'), parseAddress('10.0.0.20')));
    assert.ok(!rangeContains(r('10.0.0.10', '10.0.0.20'), parseAddress('10.0.0.21')));
    assert.ok(!rangeContains(r('0.0.0.0', '255.255.255.255'), parseAddress('::1')));
    assert.equal(formatRange(rangeIntersection(r('10.0.0.1', '10.0.0.9'), r('10.0.0.5', '10.0.0.20'))!), '10.0.0.5-10.0.0.9');
    assert.equal(formatRange(rangeIntersection(r('10.0.0.1', '10.0.0.9'), r('10.0.0.9', '10.0.0.9'))!), '10.0.0.9-10.0.0.9');
    assert.equal(rangeIntersection(r('10.0.0.1', '10.0.0.9'), r('10.0.0.10', '10.0.0.20')), undefined);
    assert.equal(rangeIntersection(r('0.0.0.0', '255.255.255.255'), r('::', '::ffff')), undefined);
  });

  test('addressesIn walks lazily, even across a huge range', () => {
    assert.deepEqual([...addressesIn(r('10.0.0.254', '10.0.1.1'))].map(formatAddress), ['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1']);
    const walk = addressesIn(r('2001:db8::', '2001:db8::ffff:ffff:ffff:ffff'));
    assert.deepEqual([walk.next().value!, walk.next().value!].map(formatAddress), ['2001:db8::', '2001:db8::1']);
  });
});
