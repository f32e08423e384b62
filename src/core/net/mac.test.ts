import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvalidAddressError } from './address.js';
import { formatMac, normalizeMac, parseMac } from './mac.js';

describe('MAC addresses', () => {
  test('the common forms normalise to NetBox display form', () => {
    for (const text of ['aa:bb:cc:0d:ee:ff', 'AA-BB-CC-0D-EE-FF', 'aabb.cc0d.eeff', 'AABBCC0DEEFF', 'Aa:bB:cc:0D:ee:Ff']) {
      assert.equal(normalizeMac(text), 'AA:BB:CC:0D:EE:FF', text);
    }
    assert.equal(formatMac(parseMac('AABB.CC0D.EEFF'), 'lower'), 'aa:bb:cc:0d:ee:ff');
    assert.deepEqual([...parseMac('00:11:22:33:44:ff')], [0x00, 0x11, 0x22, 0x33, 0x44, 0xff]);
    assert.equal(formatMac(Buffer.from([1, 2, 3, 4, 5, 0xfe])), '01:02:03:04:05:FE');
  });

  test('rejects other text, naming it', () => {
    for (const text of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa:bb-cc:dd:ee:ff', 'aa:bb:cc:dd:ee:fg', 'a:b:c:d:e:f',
      'aabb.ccdd.eef', 'aabbccddeef', 'aabb:ccdd:eeff', ' aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff\n']) {
      assert.throws(() => parseMac(text, 'body.mac_address'), (error: unknown) => {
        assert.ok(error instanceof InvalidAddressError, text);
        assert.equal(error.field, 'body.mac_address');
        assert.ok(error.message.startsWith(`body.mac_address: ${JSON.stringify(text)} is not a MAC address: expected 6 hex bytes`));
        return true;
      });
    }
    assert.throws(() => formatMac(new Uint8Array(8)), /"00:00:00:00:00:00:00:00" is not a MAC address: it has 8 bytes, not 6/);
  });

  test('every form of any 6 bytes reads back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.boolean(), (bytes, upper) => {
        const lower = formatMac(bytes, 'lower');
        const hex = lower.replaceAll(':', '');
        const forms = [lower, lower.replaceAll(':', '-'), hex, `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8)}`];
        for (const form of forms) {
          const text = upper ? form.toUpperCase() : form;
          assert.deepEqual(parseMac(text), bytes);
          assert.equal(normalizeMac(text), lower.toUpperCase());
        }
      }),
      { numRuns: 500 },
    );
  });
});
