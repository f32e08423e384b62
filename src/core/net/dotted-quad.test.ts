import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dottedQuadToNumber, numberToDottedQuad } from './dotted-quad.js';

describe('dotted quads', () => {
  test('every 32-bit number formats and parses back', () => {
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (value) => assert.equal(dottedQuadToNumber(numberToDottedQuad(value)), value)), { numRuns: 2000 });
    assert.equal(numberToDottedQuad(0), '0.0.0.0');
    assert.equal(numberToDottedQuad(0xffffffff), '255.255.255.255');
    assert.equal(dottedQuadToNumber('10.0.2.15'), 0x0a00020f);
  });

  test('anything but a strict dotted quad is -1', () => {
    for (const text of ['', '1.2.3', '1.2.3.4.', '1.2.3.4.5', '.1.2.3', '1..2.3', '01.2.3.4', '1.2.3.256', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.-4', '1.2.3.0x1', '1234.1.1.1', '::1']) {
      assert.equal(dottedQuadToNumber(text), -1, text);
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        const value = dottedQuadToNumber(text);
        if (value !== -1) assert.equal(numberToDottedQuad(value), text);
      }),
      { numRuns: 2000 },
    );
  });
});
