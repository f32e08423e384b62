import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  decodeDhcpPacket,
  encodeDhcpPacket,
  encodeOptions,
  MalformedPacketError,
  ReplyTooLargeError,
  type DhcpPacket,
  type DhcpReply,
} from './codec.js';
import {
  DhcpMessageType,
  DhcpOption,
  encodeClasslessRoutes,
  encodeDomainSearch,
  encodeIpv4,
  encodeIpv4List,
  encodePxeVendorOptions,
  encodeText,
  encodeUint32,
  encodeUint8,
  PxeDiscoveryControl,
  PxeVendorOption,
} from './options.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytesOf = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const zeros = (count: number): string => '00'.repeat(count);
const ascii = (text: string): string => Buffer.from(text, 'ascii').toString('hex');

/** From dist/src/boot/dhcp/ (or .build-NAME/src/boot/dhcp/) back to the source tree. */
const fixture = (name: string): Uint8Array =>
  bytesOf(readFileSync(new URL(`../../../../src/boot/dhcp/fixtures/${name}`, import.meta.url), 'utf8'));

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const CHADDR = new Uint8Array(16);
CHADDR.set(MAC);
const UUID_OPTION = bytesOf('00 00112233 4455 6677 8899 aabbccddeeff');

/** A header with cookie and the given options area, for decode tests. */
function requestBytes(optionArea: string, fields: { sname?: string; file?: string } = {}): Uint8Array {
  return bytesOf(
    '01 01 06 00  1a2b3c4d  0000 0000' +
      zeros(16) +
      hex(CHADDR) +
      (fields.sname ?? zeros(64)) +
      (fields.file ?? zeros(128)) +
      '63825363' +
      optionArea,
  );
}

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof MalformedPacketError, `expected MalformedPacketError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('expected a MalformedPacketError');
}

/** Every accessor, so the fuzz tests also prove none of them throws. */
function readAll(packet: DhcpPacket): unknown[] {
  return [
    packet.broadcast,
    packet.messageType,
    packet.requestedAddress,
    packet.serverId,
    packet.parameterRequestList,
    packet.maxMessageSize,
    packet.leaseTime,
    packet.hostName,
    packet.vendorClass,
    packet.clientId,
    packet.userClasses,
    packet.clientArchitectures,
    packet.clientNdi,
    packet.clientUuid,
    packet.relayAgentInfo,
    packet.hasIpxeOptions,
    packet.ipxeOptions,
  ];
}

describe('encodeDhcpPacket', () => {
  test('a ProxyDHCP offer, byte for byte', () => {
    const offer = encodeDhcpPacket({
      htype: 1,
      hlen: 6,
      xid: 0x12345678,
      flags: 0x8000,
      siaddr: '10.0.0.1',
      chaddrBytes: CHADDR,
      file: 'undionly.kpxe',
      // Given out of order on purpose: 53 and 54 must still come first.
      options: new Map([
        [DhcpOption.vendorClass, encodeText('PXEClient')],
        [DhcpOption.serverId, encodeIpv4('10.0.0.1')],
        [DhcpOption.messageType, encodeUint8(DhcpMessageType.offer)],
        [
          DhcpOption.vendorSpecific,
          encodePxeVendorOptions([[PxeVendorOption.discoveryControl, Uint8Array.of(PxeDiscoveryControl.skipDiscovery)]]),
        ],
        [DhcpOption.clientUuid, UUID_OPTION],
      ]),
    });
    const expected =
      '02 01 06 00  12345678  0000 8000  00000000 00000000 0a000001 00000000' +
      '525400123456' +
      zeros(10) +
      zeros(64) +
      ascii('undionly.kpxe') +
      zeros(128 - 13) +
      '63825363' +
      '35 01 02' +
      '36 04 0a000001' +
      '3c 09' +
      ascii('PXEClient') +
      '2b 04 060108ff' +
      '61 11' +
      hex(UUID_OPTION) +
      'ff' +
      zeros(300 - 286);
    assert.equal(hex(offer), hex(bytesOf(expected)));
    assert.equal(offer.length, 300);
  });

  test('an ACK with the usual options, byte for byte, relay agent information last', () => {
    const ack = encodeDhcpPacket({
      htype: 1,
      hlen: 6,
      xid: 1,
      yiaddr: '10.0.0.50',
      giaddr: '10.0.1.1',
      chaddrBytes: MAC,
      options: new Map([
        [DhcpOption.relayAgentInfo, bytesOf('0104 65746830')],
        [DhcpOption.messageType, encodeUint8(DhcpMessageType.ack)],
        [DhcpOption.subnetMask, encodeIpv4('255.255.255.0')],
        [DhcpOption.routers, encodeIpv4List(['10.0.0.1'])],
        [DhcpOption.dnsServers, encodeIpv4List(['10.0.0.2', '10.0.0.3'])],
        [DhcpOption.leaseTime, encodeUint32(3600)],
        [DhcpOption.serverId, encodeIpv4('10.0.0.1')],
        [DhcpOption.domainSearch, encodeDomainSearch(['lab.example'])],
        [DhcpOption.classlessRoutes, encodeClasslessRoutes([{ destination: '10.8.0.0', prefixLength: 16, router: '10.0.0.9' }])],
      ]),
    });
    const expected =
      '35 01 05' +
      '36 04 0a000001' +
      '01 04 ffffff00' +
      '03 04 0a000001' +
      '06 08 0a000002 0a000003' +
      '33 04 00000e10' +
      '77 0d 036c6162 076578616d706c65 00' +
      '79 07 10 0a08 0a000009' +
      '52 06 0104 65746830' +
      'ff';
    assert.equal(hex(ack.subarray(240, 240 + bytesOf(expected).length)), hex(bytesOf(expected)));
    assert.equal(hex(ack.subarray(0, 28)), hex(bytesOf('02 01 06 00 00000001 0000 0000 00000000 0a000032 00000000 0a000101')));
    assert.equal(hex(ack.subarray(28, 44)), hex(MAC) + zeros(10));
  });

  test('options over 255 bytes are split and decode back concatenated (RFC 3396)', () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const packet = encodeDhcpPacket({
      htype: 1,
      hlen: 6,
      xid: 7,
      chaddrBytes: CHADDR,
      options: new Map([
        [DhcpOption.messageType, encodeUint8(DhcpMessageType.ack)],
        [DhcpOption.wpad, long],
        [80, new Uint8Array(0)],
      ]),
      maxMessageSize: 1500,
    });
    const area = packet.subarray(240);
    assert.deepEqual([area[3], area[4]], [252, 255]);
    assert.deepEqual([area[5 + 255], area[6 + 255]], [252, 255]);
    assert.deepEqual([area[7 + 510], area[8 + 510]], [252, 90]);
    assert.deepEqual([area[9 + 600], area[10 + 600], area[11 + 600]], [80, 0, 255]);
    const decoded = decodeDhcpPacket(packet);
    assert.deepEqual(decoded.options.get(DhcpOption.wpad), long);
    assert.deepEqual(decoded.options.get(80), new Uint8Array(0));
  });

  test('too big for the client: unlisted options go first, then DROP_ORDER; protected ones stay', () => {
    const options = new Map<number, Uint8Array>([
      [DhcpOption.messageType, encodeUint8(DhcpMessageType.ack)],
      [DhcpOption.serverId, encodeIpv4('10.0.0.1')],
      [DhcpOption.ntpServers, new Uint8Array(100)],
      [DhcpOption.wpad, new Uint8Array(100)],
      [99, new Uint8Array(20)],
      [DhcpOption.bootfileName, new Uint8Array(100)],
      [DhcpOption.leaseTime, encodeUint32(60)],
      [DhcpOption.subnetMask, encodeIpv4('255.255.255.0')],
      [DhcpOption.routers, encodeIpv4('10.0.0.1')],
      [DhcpOption.dnsServers, encodeIpv4List(['10.0.0.1', '10.0.0.2'])],
      [DhcpOption.relayAgentInfo, new Uint8Array(8)],
    ]);
    const reply: DhcpReply = { htype: 1, hlen: 6, xid: 1, chaddrBytes: CHADDR, options };
    // 240 + 376 bytes of options is 68 over the 548 a 576-byte client takes: 99 (22) and 252 (102) go.
    const kept = (maxMessageSize?: number) => [...decodeDhcpPacket(encodeDhcpPacket({ ...reply, maxMessageSize })).options.keys()];
    const fitted = [53, 54, 42, 67, 51, 1, 3, 6, 82];
    assert.deepEqual(kept(), fitted);
    assert.deepEqual(kept(300), fitted, 'below 576 counts as 576');
    assert.deepEqual(kept(1500), [53, 54, 42, 252, 99, 67, 51, 1, 3, 6, 82]);
    assert.equal(encodeDhcpPacket(reply).length, 616 - 22 - 102);
  });

  test('protected options alone too big: ReplyTooLargeError', () => {
    const options = new Map([
      [DhcpOption.messageType, encodeUint8(DhcpMessageType.ack)],
      [DhcpOption.relayAgentInfo, new Uint8Array(400)],
      [DhcpOption.wpad, new Uint8Array(10)],
    ]);
    assert.throws(() => encodeDhcpPacket({ htype: 1, hlen: 6, xid: 1, chaddrBytes: CHADDR, options }), ReplyTooLargeError);
  });

  test('fields that cannot be encoded are RangeErrors', () => {
    const base: DhcpReply = { htype: 1, hlen: 6, xid: 1, chaddrBytes: CHADDR, options: [] };
    assert.throws(() => encodeDhcpPacket({ ...base, xid: 2 ** 32 }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, hlen: 17 }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, yiaddr: '10.0.0' }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, chaddrBytes: new Uint8Array(17) }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, sname: 'x'.repeat(64) }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, file: 'a\0b' }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, options: [[256, new Uint8Array(1)]] }), RangeError);
    assert.throws(() => encodeDhcpPacket({ ...base, options: [[3, new Uint8Array(4)], [3, new Uint8Array(4)]] }), RangeError);
    assert.equal(encodeDhcpPacket({ ...base, file: 'f'.repeat(127) }).length, 300);
  });

  test('text fields: ASCII and UTF-8 alike; one that does not fit throws and leaves later replies clean', () => {
    const base: DhcpReply = { htype: 1, hlen: 6, xid: 1, chaddrBytes: CHADDR, options: [] };
    const packet = decodeDhcpPacket(encodeDhcpPacket({ ...base, sname: 'tftp.example', file: 'bööt/ïpxe.efi' }));
    assert.equal(packet.sname, 'tftp.example');
    assert.equal(packet.file, 'bööt/ïpxe.efi');
    // 100 ASCII bytes are written before the first 'é' shows that 140 bytes are needed.
    assert.throws(() => encodeDhcpPacket({ ...base, file: 'a'.repeat(100) + 'é'.repeat(20) }), RangeError);
    assert.equal(decodeDhcpPacket(encodeDhcpPacket(base)).file, '');
  });

  test('every packet and reply has memory of its own', () => {
    // Enough of them to fill several of the slabs they are carved from.
    const base: DhcpReply = { htype: 1, hlen: 6, xid: 0, chaddrBytes: CHADDR, options: [] };
    const replies: Uint8Array[] = [];
    const packets: DhcpPacket[] = [];
    for (let xid = 0; xid < 1000; xid++) {
      const reply = encodeDhcpPacket({ ...base, xid, options: [[DhcpOption.hostName, encodeText(`host${xid}`)]] });
      replies.push(reply);
      packets.push(decodeDhcpPacket(reply));
    }
    for (const reply of replies) reply.fill(0xff);
    packets.forEach((packet, xid) => {
      assert.equal(packet.xid, xid);
      assert.equal(packet.hostName, `host${xid}`);
    });
  });

  test('pad, end and overload given by the caller are not copied', () => {
    const options = new Map([
      [DhcpOption.pad, new Uint8Array(1)],
      [DhcpOption.overload, Uint8Array.of(3)],
      [DhcpOption.messageType, encodeUint8(DhcpMessageType.nak)],
      [DhcpOption.end, new Uint8Array(0)],
    ]);
    assert.equal(hex(encodeOptions(options)), '350106ff');
  });
});

describe('decodeDhcpPacket', () => {
  test('header fields and options', () => {
    const packet = decodeDhcpPacket(
      bytesOf(
        '01 01 06 02  1a2b3c4d  0003 8000  0a000005 00000000 00000000 0a000101' +
          hex(CHADDR) +
          zeros(64) +
          zeros(128) +
          '63825363' +
          '350103 3204 0a000032 3604 0a000001 3304 00000e10 0c03 6e3031 ff',
      ),
    );
    assert.equal(packet.op, 1);
    assert.equal(packet.hops, 2);
    assert.equal(packet.xid, 0x1a2b3c4d);
    assert.equal(packet.secs, 3);
    assert.equal(packet.flags, 0x8000);
    assert.equal(packet.broadcast, true);
    assert.equal(packet.ciaddr, '10.0.0.5');
    assert.equal(packet.yiaddr, '0.0.0.0');
    assert.equal(packet.giaddr, '10.0.1.1');
    assert.equal(packet.chaddr, '52:54:00:12:34:56');
    assert.deepEqual(packet.chaddrBytes, CHADDR);
    assert.equal(packet.messageType, DhcpMessageType.request);
    assert.equal(packet.requestedAddress, '10.0.0.50');
    assert.equal(packet.serverId, '10.0.0.1');
    assert.equal(packet.leaseTime, 3600);
    assert.equal(packet.hostName, 'n01');
    assert.equal(packet.sname, '');
    assert.equal(packet.relayAgentInfo, undefined);
    assert.equal(packet.hasIpxeOptions, false);
  });

  test('the packet does not share memory with the input', () => {
    const input = requestBytes('350101 3c03 616263 ff');
    const packet = decodeDhcpPacket(input);
    input.fill(0);
    assert.equal(packet.vendorClass, 'abc');
    assert.equal(packet.chaddr, '52:54:00:12:34:56');
  });

  test('chaddr is a MAC only for Ethernet with hlen 6', () => {
    const infiniband = requestBytes('350101ff');
    infiniband[1] = 32;
    infiniband[2] = 0;
    const packet = decodeDhcpPacket(infiniband);
    assert.equal(packet.chaddr, null);
    assert.equal(packet.chaddrBytes.length, 16);
  });

  test('repeated options are concatenated in order (RFC 3396)', () => {
    const packet = decodeDhcpPacket(requestBytes('350101 0c02 6162 0000 0c01 63 0c00 0c01 64 ff'));
    assert.equal(packet.hostName, 'abcd');
  });

  test('option overload: options, then file, then sname (RFC 3396 5)', () => {
    const file = '0c02 6364 3c03 505845 ff';
    const sname = '0c01 65 ff';
    const packet = decodeDhcpPacket(
      requestBytes('350101 340103 0c02 6162 ff', {
        sname: sname.replace(/\s/g, '') + zeros(64 - 4),
        file: file.replace(/\s/g, '') + zeros(128 - 10),
      }),
    );
    assert.equal(packet.hostName, 'abcde');
    assert.equal(packet.vendorClass, 'PXE');
    assert.equal(packet.sname, '');
    assert.equal(packet.file, '');
  });

  test('without overload, sname and file are NUL-terminated text', () => {
    const packet = decodeDhcpPacket(
      requestBytes('350101ff', { sname: ascii('boot') + zeros(60), file: ascii('pxelinux.0') + '00ff' + zeros(116) }),
    );
    assert.equal(packet.sname, 'boot');
    assert.equal(packet.file, 'pxelinux.0');
  });

  test('a missing End option is tolerated, BOOTP without option 53 decodes', () => {
    assert.equal(decodeDhcpPacket(requestBytes('350101 3c01 61')).vendorClass, 'a');
    assert.equal(decodeDhcpPacket(requestBytes('')).messageType, undefined);
  });

  test('malformed packets name their reason', () => {
    assert.match(reasonOf(() => decodeDhcpPacket(new Uint8Array(239))), /too short/);
    const badCookie = requestBytes('350101ff');
    badCookie[239] = 0x64;
    assert.match(reasonOf(() => decodeDhcpPacket(badCookie)), /magic cookie/);
    const badHlen = requestBytes('350101ff');
    badHlen[2] = 17;
    assert.match(reasonOf(() => decodeDhcpPacket(badHlen)), /hlen/);
    const badOp = requestBytes('350101ff');
    badOp[0] = 3;
    assert.match(reasonOf(() => decodeDhcpPacket(badOp)), /op/);
    assert.match(reasonOf(() => decodeDhcpPacket(requestBytes('350101 0c0a 6162'))), /option 12 runs past the end of options/);
    assert.match(reasonOf(() => decodeDhcpPacket(requestBytes('350101 0c'))), /option 12 has no length/);
    assert.match(reasonOf(() => decodeDhcpPacket(requestBytes('35020101 ff'))), /option 53/);
    assert.match(reasonOf(() => decodeDhcpPacket(requestBytes('350101 350101 ff'))), /option 53/);
    assert.match(reasonOf(() => decodeDhcpPacket(requestBytes('350101 340104 ff'))), /option 52/);
    assert.match(
      reasonOf(() => decodeDhcpPacket(requestBytes('350101 340101 ff', { file: '340102' + zeros(125) }))),
      /option 52 inside file/,
    );
    assert.match(
      reasonOf(() => decodeDhcpPacket(requestBytes('350101 340102 ff', { sname: zeros(62) + '0c05' }))),
      /option 12 runs past the end of sname/,
    );
  });
});

describe('round trips and fuzzing', () => {
  const ipv4 = fc.ipV4();
  const fieldText = (maxLength: number) =>
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789./-_:'), maxLength });
  const optionEntry = fc
    .tuple(
      fc.integer({ min: 1, max: 254 }).filter((code) => code !== DhcpOption.overload),
      fc.uint8Array({ maxLength: 600 }),
    )
    .map(([code, value]): [number, Uint8Array] => [code, code === DhcpOption.messageType ? Uint8Array.of(value[0] ?? 1) : value]);
  const reply = fc.record({
    op: fc.constantFrom(1, 2),
    htype: fc.integer({ min: 0, max: 255 }),
    hlen: fc.integer({ min: 0, max: 16 }),
    hops: fc.integer({ min: 0, max: 255 }),
    xid: fc.integer({ min: 0, max: 0xffffffff }),
    secs: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.integer({ min: 0, max: 0xffff }),
    ciaddr: ipv4,
    yiaddr: ipv4,
    siaddr: ipv4,
    giaddr: ipv4,
    chaddrBytes: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    sname: fieldText(63),
    file: fieldText(127),
    options: fc.uniqueArray(optionEntry, { selector: (entry) => entry[0], maxLength: 12 }).map((entries) => new Map(entries)),
  });

  test('decode(encode(reply)) gives the reply back', () => {
    fc.assert(
      fc.property(reply, (r) => {
        const packet = decodeDhcpPacket(encodeDhcpPacket({ ...r, maxMessageSize: 0xffff }));
        const { options, ...fields } = r;
        for (const [name, value] of Object.entries(fields)) {
          assert.deepEqual(packet[name as keyof typeof fields], value, name);
        }
        assert.deepEqual(packet.options, options);
        const mac = r.htype === 1 && r.hlen === 6 ? hex(r.chaddrBytes.subarray(0, 6)).replace(/(..)(?!$)/g, '$1:') : null;
        assert.equal(packet.chaddr, mac);
        // And a decoded packet encodes to the same bytes again.
        const again = encodeDhcpPacket({ ...packet, maxMessageSize: 0xffff });
        assert.deepEqual(decodeDhcpPacket(again), packet);
      }),
      { numRuns: 500 },
    );
  });

  const onlyMalformed = (bytes: Uint8Array): void => {
    try {
      readAll(decodeDhcpPacket(bytes));
    } catch (error) {
      if (!(error instanceof MalformedPacketError)) throw error;
    }
  };

  test('random bytes: a packet or a MalformedPacketError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), onlyMalformed), { numRuns: 3000 });
  });

  test('valid header, random options in every area: a packet or a MalformedPacketError', () => {
    const header = requestBytes('').subarray(0, 240);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 128 }),
        fc.constantFrom('', '340101', '340102', '340103', '3401', '340100'),
        (area, sname, file, overload) => {
          const bytes = new Uint8Array(240 + overload.length / 2 + area.length);
          bytes.set(header);
          bytes.set(sname, 44);
          bytes.set(file, 108);
          bytes.set(bytesOf(overload), 240);
          bytes.set(area, 240 + overload.length / 2);
          onlyMalformed(bytes);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('mutated real and encoded packets: a packet or a MalformedPacketError', () => {
    const seeds = [
      fixture('dhclient-discover.hex'),
      fixture('udhcpc-discover.hex'),
      fixture('busybox-udhcpc-discover.hex'),
      encodeDhcpPacket({
        htype: 1,
        hlen: 6,
        xid: 9,
        chaddrBytes: CHADDR,
        options: new Map([
          [DhcpOption.messageType, encodeUint8(DhcpMessageType.offer)],
          [DhcpOption.relayAgentInfo, bytesOf('0104 65746830 0202 abcd')],
          [DhcpOption.userClass, bytesOf('04 69505845')],
          [DhcpOption.ipxeEncapsulated, bytesOf('130101 eb03011501')],
          [DhcpOption.clientArchitecture, bytesOf('0007')],
          [DhcpOption.clientUuid, UUID_OPTION],
        ]),
      }),
    ];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(700), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(700) }),
      fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 8 }), (seed, mutations) => {
        let bytes = Uint8Array.from(seed);
        for (const m of mutations) {
          if (m.kind === 'set') bytes[m.at % bytes.length] = m.value;
          else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % (bytes.length + 1));
          else bytes = Uint8Array.from([...bytes, ...m.bytes]);
        }
        onlyMalformed(bytes);
      }),
      { numRuns: 3000 },
    );
  });
});
