import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toNetascii } from './netascii.js';

/** The receiving side as tftp-hpa's client undoes it: CR LF is LF, CR NUL is CR. */
function fromNetascii(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === 0x0d && (bytes[i + 1] === 0x0a || bytes[i + 1] === 0)) {
      out.push(bytes[i + 1] === 0x0a ? 0x0a : 0x0d);
      i++;
    } else out.push(byte);
  }
  return Uint8Array.from(out);
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('toNetascii', () => {
  test('LF becomes CR LF and a CR becomes CR NUL', () => {
    assert.deepEqual(toNetascii(bytes('a\nb')), bytes('a\r\nb'));
    assert.deepEqual(toNetascii(bytes('a\rb')), bytes('a\r\0b'));
    assert.deepEqual(toNetascii(bytes('a\r\n')), bytes('a\r\0\r\n'));
    assert.deepEqual(toNetascii(new Uint8Array()), new Uint8Array());
  });

  test('a receiver that undoes it gets the original bytes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (original) => {
        assert.deepEqual(fromNetascii(toNetascii(original)), original);
      }),
      { numRuns: 1000 },
    );
  });
});
