import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_DATA_LENGTH,
  MalformedTftpPacketError,
  TftpErrorCode,
  decodeTftpPacket,
  encodeTftpPacket,
  type TftpOption,
  type TftpPacket,
} from './codec.js';

/** Builds bytes from 16-bit numbers and NUL-terminated strings, the way the RFCs draw packets. */
function wire(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) =>
      typeof part === 'number'
        ? Buffer.from([part >> 8, part & 0xff])
        : typeof part === 'string'
          ? Buffer.from(`${part}\0`, 'utf8')
          : Buffer.from(part),
    ),
  );
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('TFTP codec, byte-exact packets', () => {
  test('RRQ without options', () => {
    const bytes = encodeTftpPacket({ kind: 'rrq', filename: 'pxelinux.0', mode: 'octet', options: [] });
    assert.equal(hex(bytes), '0001' + hex(Buffer.from('pxelinux.0\0octet\0')));
    assert.deepEqual(decodeTftpPacket(bytes), { kind: 'rrq', filename: 'pxelinux.0', mode: 'octet', options: [] });
  });

  test('RRQ with the options iPXE sends', () => {
    const options = [
      { name: 'blksize', value: '1432' },
      { name: 'tsize', value: '0' },
    ];
    const bytes = encodeTftpPacket({ kind: 'rrq', filename: 'undionly.kpxe', mode: 'octet', options });
    assert.equal(hex(bytes), hex(wire(1, 'undionly.kpxe', 'octet', 'blksize', '1432', 'tsize', '0')));
    assert.equal(
      hex(bytes),
      '0001756e64696f6e6c792e6b70786500' + '6f6374657400' + '626c6b73697a650031343332007473697a65003000',
    );
    assert.deepEqual(decodeTftpPacket(bytes), { kind: 'rrq', filename: 'undionly.kpxe', mode: 'octet', options });
  });

  test('WRQ in netascii', () => {
    const bytes = encodeTftpPacket({ kind: 'wrq', filename: 'log.txt', mode: 'netascii', options: [] });
    assert.equal(hex(bytes), hex(wire(2, 'log.txt', 'netascii')));
  });

  test('DATA, ACK, ERROR and OACK', () => {
    assert.equal(hex(encodeTftpPacket({ kind: 'data', block: 1, data: Uint8Array.of(0xde, 0xad) })), '00030001dead');
    assert.equal(hex(encodeTftpPacket({ kind: 'data', block: 0x1234, data: new Uint8Array(0) })), '00031234');
    assert.equal(hex(encodeTftpPacket({ kind: 'ack', block: 0 })), '00040000');
    assert.equal(hex(encodeTftpPacket({ kind: 'ack', block: 65535 })), '0004ffff');
    assert.equal(
      hex(encodeTftpPacket({ kind: 'error', code: TftpErrorCode.fileNotFound, message: 'File not found' })),
      '00050001' + hex(Buffer.from('File not found\0')),
    );
    assert.equal(hex(encodeTftpPacket({ kind: 'error', code: 8, message: '' })), '0005000800');
    assert.equal(
      hex(encodeTftpPacket({ kind: 'oack', options: [{ name: 'tsize', value: '1048576' }] })),
      '0006' + hex(Buffer.from('tsize\x001048576\0')),
    );
    assert.equal(hex(encodeTftpPacket({ kind: 'oack', options: [] })), '0006');
  });

  test('decodes DATA, ACK, ERROR and OACK', () => {
    assert.deepEqual(decodeTftpPacket(Buffer.from('0003ffff0102', 'hex')), {
      kind: 'data',
      block: 65535,
      data: Uint8Array.of(1, 2),
    });
    assert.deepEqual(decodeTftpPacket(Buffer.from('00040102', 'hex')), { kind: 'ack', block: 258 });
    assert.deepEqual(decodeTftpPacket(wire(5, 2, 'Access violation')), {
      kind: 'error',
      code: 2,
      message: 'Access violation',
    });
    assert.deepEqual(decodeTftpPacket(wire(6, 'blksize', '1468', 'windowsize', '8')), {
      kind: 'oack',
      options: [
        { name: 'blksize', value: '1468' },
        { name: 'windowsize', value: '8' },
      ],
    });
  });

  test('a DATA payload of the largest blksize decodes, one byte more does not', () => {
    const largest = decodeTftpPacket(wire(3, 7, new Uint8Array(MAX_DATA_LENGTH)));
    assert.equal(largest.kind === 'data' && largest.data.length, MAX_DATA_LENGTH);
    assert.throws(() => decodeTftpPacket(wire(3, 7, new Uint8Array(MAX_DATA_LENGTH + 1))), MalformedTftpPacketError);
  });
});

describe('TFTP codec, leniency where clients differ', () => {
  test('mode names are case-insensitive', () => {
    for (const mode of ['OCTET', 'Octet', 'oCtEt']) {
      assert.equal((decodeTftpPacket(wire(1, 'f', mode)) as { mode: string }).mode, 'octet');
    }
    assert.equal((decodeTftpPacket(wire(1, 'f', 'NetASCII')) as { mode: string }).mode, 'netascii');
  });

  test('option names keep their case as sent', () => {
    const packet = decodeTftpPacket(wire(1, 'f', 'octet', 'BLKSIZE', '1024'));
    assert.deepEqual(packet.kind === 'rrq' && packet.options, [{ name: 'BLKSIZE', value: '1024' }]);
  });

  test('NUL padding after a request is ignored', () => {
    const padded = Buffer.concat([wire(1, 'pxelinux.0', 'octet', 'tsize', '0'), new Uint8Array(20)]);
    assert.deepEqual(decodeTftpPacket(padded), {
      kind: 'rrq',
      filename: 'pxelinux.0',
      mode: 'octet',
      options: [{ name: 'tsize', value: '0' }],
    });
  });

  test('an ERROR message that is not UTF-8 still decodes, keeping its code', () => {
    const packet = decodeTftpPacket(wire(5, 8, Uint8Array.of(0xff, 0xfe, 0)));
    assert.equal(packet.kind === 'error' && packet.code, 8);
  });

  test('unknown error codes decode', () => {
    assert.deepEqual(decodeTftpPacket(wire(5, 4242, 'x')), { kind: 'error', code: 4242, message: 'x' });
  });
});

describe('TFTP codec, malformed input', () => {
  const cases: [string, Uint8Array][] = [
    ['empty packet', new Uint8Array(0)],
    ['one byte', Uint8Array.of(0)],
    ['opcode 0', wire(0, 'f', 'octet')],
    ['opcode 7', wire(7)],
    ['opcode 0xffff', wire(0xffff, 1)],
    ['RRQ with only an opcode', wire(1)],
    ['RRQ whose file name has no NUL', Buffer.concat([wire(1), Buffer.from('pxelinux.0')])],
    ['RRQ without a mode', wire(1, 'pxelinux.0')],
    ['RRQ whose mode has no NUL', Buffer.concat([wire(1, 'f'), Buffer.from('octet')])],
    ['RRQ in the obsolete mail mode', wire(1, 'f', 'mail')],
    ['RRQ in an unknown mode', wire(1, 'f', 'binary')],
    ['RRQ with an option but no value', wire(1, 'f', 'octet', 'blksize')],
    ['RRQ with an option value missing its NUL', Buffer.concat([wire(1, 'f', 'octet', 'blksize'), Buffer.from('1')])],
    ['RRQ with an empty option name', wire(1, 'f', 'octet', '', '1', 'tsize', '0')],
    ['RRQ with a repeated option', wire(1, 'f', 'octet', 'blksize', '512', 'BlkSize', '1024')],
    ['RRQ whose file name is not UTF-8', wire(1, Uint8Array.of(0xc3, 0x28, 0), 'octet')],
    ['DATA without a block number', wire(3)],
    ['DATA with half a block number', Uint8Array.of(0, 3, 1)],
    ['ACK of 3 bytes', Uint8Array.of(0, 4, 1)],
    ['ACK of 5 bytes', Uint8Array.of(0, 4, 0, 1, 0)],
    ['ERROR without a message', wire(5, 1)],
    ['ERROR whose message has no NUL', Buffer.concat([wire(5, 1), Buffer.from('oops')])],
    ['ERROR with bytes after the message', Buffer.concat([wire(5, 1, 'oops'), Buffer.from('x')])],
    ['OACK with an option but no value', wire(6, 'tsize')],
  ];
  for (const [name, bytes] of cases) {
    test(name, () => assert.throws(() => decodeTftpPacket(bytes), MalformedTftpPacketError));
  }
});

describe('TFTP codec, encoding refuses what cannot be sent', () => {
  test('NUL in a string, out-of-range numbers, oversized DATA, bad options', () => {
    assert.throws(() => encodeTftpPacket({ kind: 'rrq', filename: 'a\0b', mode: 'octet', options: [] }), RangeError);
    assert.throws(() => encodeTftpPacket({ kind: 'ack', block: 65536 }), RangeError);
    assert.throws(() => encodeTftpPacket({ kind: 'ack', block: -1 }), RangeError);
    assert.throws(() => encodeTftpPacket({ kind: 'ack', block: 1.5 }), RangeError);
    assert.throws(() => encodeTftpPacket({ kind: 'error', code: 70000, message: '' }), RangeError);
    assert.throws(
      () => encodeTftpPacket({ kind: 'data', block: 1, data: new Uint8Array(MAX_DATA_LENGTH + 1) }),
      RangeError,
    );
    assert.throws(() => encodeTftpPacket({ kind: 'oack', options: [{ name: '', value: '1' }] }), RangeError);
    assert.throws(
      () =>
        encodeTftpPacket({
          kind: 'oack',
          options: [
            { name: 'tsize', value: '1' },
            { name: 'TSIZE', value: '2' },
          ],
        }),
      RangeError,
    );
  });
});

// Plain objects, so decoded packets compare equal to generated ones.
const plain = { noNullPrototype: true } as const;
// Any code point but NUL (which ends a string on the wire) and lone surrogates (which UTF-8 cannot carry).
// Built by hand: fast-check's full-Unicode units take seconds to set up.
const codePoint = fc
  .oneof(
    fc.integer({ min: 1, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xd7ff }),
    fc.integer({ min: 0xe000, max: 0x10ffff }),
  )
  .map((point) => String.fromCodePoint(point));
const text = fc.string({ unit: codePoint, maxLength: 40 });
const options: fc.Arbitrary<TftpOption[]> = fc.uniqueArray(
  fc.record({ name: text.filter((s) => s !== ''), value: text }, plain),
  { maxLength: 6, selector: (option) => option.name.toLowerCase() },
);
const block = fc.integer({ min: 0, max: 0xffff });
const packet: fc.Arbitrary<TftpPacket> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('rrq' as const, 'wrq' as const),
    filename: text,
    mode: fc.constantFrom('netascii' as const, 'octet' as const),
    options,
  }, plain),
  fc.record({ kind: fc.constant('data' as const), block, data: fc.uint8Array({ maxLength: 1500 }) }, plain),
  fc.record({ kind: fc.constant('ack' as const), block }, plain),
  fc.record({ kind: fc.constant('error' as const), code: block, message: text }, plain),
  fc.record({ kind: fc.constant('oack' as const), options }, plain),
);

/** Decoding either succeeds or throws MalformedTftpPacketError, nothing else. */
function decodesOrRefuses(bytes: Uint8Array): void {
  try {
    decodeTftpPacket(bytes);
  } catch (error) {
    if (!(error instanceof MalformedTftpPacketError)) throw error;
  }
}

describe('TFTP codec, properties', () => {
  test('every valid packet survives encode then decode', () => {
    fc.assert(
      fc.property(packet, (original) => {
        assert.deepEqual(decodeTftpPacket(encodeTftpPacket(original)), original);
      }),
      { numRuns: 2000 },
    );
  });

  test('arbitrary bytes decode or throw MalformedTftpPacketError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), decodesOrRefuses), { numRuns: 3000 });
  });

  test('arbitrary bytes behind a valid opcode decode or throw MalformedTftpPacketError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 200 }), (opcode, body) =>
        decodesOrRefuses(Buffer.concat([wire(opcode), body])),
      ),
      { numRuns: 3000 },
    );
  });

  test('truncated or corrupted valid packets decode or throw MalformedTftpPacketError', () => {
    fc.assert(
      fc.property(packet, fc.nat(), fc.nat({ max: 255 }), (original, at, byte) => {
        const bytes = Buffer.from(encodeTftpPacket(original));
        decodesOrRefuses(bytes.subarray(0, at % (bytes.length + 1)));
        bytes[at % bytes.length] = byte;
        decodesOrRefuses(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});
