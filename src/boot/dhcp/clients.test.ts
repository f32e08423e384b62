/**
 * DISCOVERs from real clients: dhclient (isc-dhcp-client 4.4.3) and busybox udhcpc 1.35, captured with tcpdump
 * across a veth pair between two network namespaces (fixtures/*.hex are the UDP payloads), and an iPXE-style
 * DISCOVER built by hand from iPXE's src/net/udp/dhcp.c.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeDhcpPacket, encodeDhcpPacket, encodeOptions } from './codec.js';
import { DhcpMessageType, DhcpOption, IpxeOption } from './options.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytesOf = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const ascii = (text: string): string => Buffer.from(text, 'ascii').toString('hex');

/** From dist/src/boot/dhcp/ (or .build-NAME/src/boot/dhcp/) back to the source tree. */
const fixture = (name: string): Uint8Array =>
  bytesOf(readFileSync(new URL(`../../../../src/boot/dhcp/fixtures/${name}`, import.meta.url), 'utf8'));

const CAPTURED_MAC = '52:54:00:ab:cd:ef';

/** The options the client sent, re-encoded, are its own bytes; what follows them is zero padding. */
function assertOptionsReencode(captured: Uint8Array): void {
  const packet = decodeDhcpPacket(captured);
  const options = encodeOptions(packet.options);
  assert.equal(hex(options), hex(captured.subarray(240, 240 + options.length)));
  assert.ok(captured.subarray(240 + options.length).every((byte) => byte === 0));
}

describe('captured DISCOVERs', () => {
  test('dhclient', () => {
    const captured = fixture('dhclient-discover.hex');
    const packet = decodeDhcpPacket(captured);
    assert.equal(packet.op, 1);
    assert.equal(packet.messageType, DhcpMessageType.discover);
    assert.equal(packet.chaddr, CAPTURED_MAC);
    assert.equal(packet.broadcast, false);
    assert.equal(packet.hostName, 'vm');
    assert.deepEqual([...(packet.parameterRequestList ?? [])], [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
    assert.equal(packet.clientId, undefined);
    assertOptionsReencode(captured);
    assert.equal(hex(encodeDhcpPacket(packet)), hex(captured), 'the whole packet re-encodes to the same bytes');
  });

  test('udhcpc', () => {
    const captured = fixture('udhcpc-discover.hex');
    const packet = decodeDhcpPacket(captured);
    assert.equal(packet.messageType, DhcpMessageType.discover);
    assert.equal(packet.chaddr, CAPTURED_MAC);
    assert.deepEqual([...(packet.parameterRequestList ?? [])], [1, 3, 6, 12, 15, 28, 42]);
    assert.equal(packet.maxMessageSize, 576);
    assert.equal(packet.vendorClass, 'udhcp 1.35.0');
    assert.equal(hex(packet.clientId ?? new Uint8Array()), '01525400abcdef');
    assertOptionsReencode(captured);
    assert.equal(hex(encodeDhcpPacket(packet)), hex(captured));
  });

  test('busybox udhcpc posing as a PXE client (-V, -x hostname, -x 61)', () => {
    const captured = fixture('busybox-udhcpc-discover.hex');
    const packet = decodeDhcpPacket(captured);
    assert.equal(packet.messageType, DhcpMessageType.discover);
    assert.equal(packet.chaddr, CAPTURED_MAC);
    assert.deepEqual([...(packet.parameterRequestList ?? [])], [1, 3, 6, 12, 15, 28, 42]);
    assert.equal(packet.hostName, 'node01');
    assert.equal(packet.vendorClass, 'PXEClient:Arch:00000:UNDI:002001');
    assert.equal(hex(packet.clientId ?? new Uint8Array()), '01525400abcdef');
    assertOptionsReencode(captured);
    assert.equal(hex(encodeDhcpPacket(packet)), hex(captured));
  });
});

describe('an iPXE-style DISCOVER', () => {
  // Options in the order iPXE's dhcp_request_options_data and dhcp_create_request put them.
  const options =
    '35 01 01' +
    '39 02 05c0' + // max message size 1472 (ETH_MAX_MTU - IP - UDP)
    '5d 02 0000' + // arch 0, BIOS
    '5e 03 010201' + // UNDI 2.1
    '3c 20' +
    ascii('PXEClient:Arch:00000:UNDI:002001') +
    '4d 04' +
    ascii('iPXE') + // user class as a bare string, not RFC 3004
    '37 16 010306070c0f112b3c4243 77 8081828384858687 afcb' +
    '3d 07 01 525400123456' +
    '61 11 00 00112233445566778899aabbccddeeff' +
    // 175: features HTTP, TFTP, DNS, PXE as code/1/version; version 1.21.1; bus id PCI 8086:100e (e1000).
    'af 18 130101 150101 170101 210101 eb03011501 b105 01 8086 100e' +
    'ff';
  const captured = bytesOf(
    '01 01 06 00  0badf00d  0004 0000' + '00'.repeat(16) + '525400123456' + '00'.repeat(10 + 64 + 128) + '63825363' + options,
  );

  test('decodes the PXE and iPXE options', () => {
    const packet = decodeDhcpPacket(captured);
    assert.equal(packet.messageType, DhcpMessageType.discover);
    assert.equal(packet.chaddr, '52:54:00:12:34:56');
    assert.equal(packet.secs, 4);
    assert.equal(packet.maxMessageSize, 1472);
    assert.deepEqual(packet.clientArchitectures, [0]);
    assert.deepEqual(packet.clientNdi, { type: 1, major: 2, minor: 1 });
    assert.equal(packet.vendorClass, 'PXEClient:Arch:00000:UNDI:002001');
    assert.deepEqual(packet.userClasses, ['iPXE']);
    assert.equal(packet.clientUuid, '00112233-4455-6677-8899-aabbccddeeff');
    assert.ok(packet.parameterRequestList?.includes(DhcpOption.ipxeEncapsulated));
    assert.equal(packet.hasIpxeOptions, true);
    const ipxe = packet.ipxeOptions;
    assert.ok(ipxe);
    assert.deepEqual(ipxe.get(IpxeOption.featureHttp), Uint8Array.of(1));
    assert.deepEqual(ipxe.get(IpxeOption.version), Uint8Array.of(1, 21, 1));
    assert.equal(hex(ipxe.get(IpxeOption.busId) ?? new Uint8Array()), '018086100e');
  });

  test('its options re-encode to the same bytes', () => {
    const packet = decodeDhcpPacket(captured);
    assert.equal(hex(encodeOptions(packet.options)), hex(bytesOf(options)));
  });
});
