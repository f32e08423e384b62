import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDhcpPacket, type DhcpPacket } from './codec.js';
import { DhcpEngine, type Decision } from './engine.js';
import { LeaseTable, type LeaseRecord } from './leases.js';
import { decodeIpv4, decodeIpv4List, decodeText, decodeUint32, DhcpMessageType, DhcpOption, encodePxeVendorOptions } from './options.js';
import {
  CAPTURED_MAC,
  capturedPacket,
  clientPacket,
  FROM_RELAY,
  lanSubnet,
  makeEngine,
  ON_LAN,
  ON_PROXY_LAN,
  onPort4011,
  optionCodes,
  PROXY_SERVER,
  proxySubnet,
  rackSubnet,
  SERVER,
  type ClientMessage,
} from './engine-fixture.js';

const NOW = 1_700_000_000_000;
const MAC_A = '52:54:00:00:00:0a';
const MAC_B = '52:54:00:00:00:0b';
const { discover, request, decline, release, inform } = DhcpMessageType;
const UUID = Uint8Array.of(0, ...Array.from({ length: 16 }, (_, i) => i));

function replyOf(decision: Decision): DhcpPacket {
  assert.ok(decision.reply, `expected a reply, got ${decision.dropReason}: ${decision.event.detail}`);
  return decodeDhcpPacket(decision.reply.bytes);
}

function text(packet: DhcpPacket, code: number): string | undefined {
  const raw = packet.options.get(code);
  return raw === undefined ? undefined : decodeText(raw);
}

function seconds(packet: DhcpPacket, code: number): number | undefined {
  const raw = packet.options.get(code);
  return raw === undefined ? undefined : decodeUint32(raw);
}

/** DISCOVER then REQUEST (SELECTING) on the LAN; returns the ACK decision. */
function bind(engine: DhcpEngine, mac: string, now = NOW, extra: Partial<ClientMessage> = {}): Decision {
  const offer = replyOf(engine.handle(clientPacket({ type: discover, mac, ...extra }), ON_LAN, now));
  return engine.handle(clientPacket({ type: request, mac, requested: offer.yiaddr, serverId: SERVER, ...extra }), ON_LAN, now);
}

describe('packets the engine does not serve are dropped with a reason', () => {
  test('a BOOTREPLY', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: DhcpMessageType.offer, mac: MAC_A, op: 2 }), ON_LAN, NOW);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, 'not-request');
    assert.equal(decision.event.type, 'dhcp.drop');
  });

  test('a hardware address that is not Ethernet', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: discover, mac: MAC_A, htype: 6, hlen: 6 }), ON_LAN, NOW);
    assert.equal(decision.dropReason, 'no-chaddr');
  });

  test('plain BOOTP (no option 53)', () => {
    const { engine } = makeEngine();
    const packet = clientPacket({ type: discover, mac: MAC_A });
    (packet.options as Map<number, Uint8Array>).delete(DhcpOption.messageType);
    assert.equal(engine.handle(packet, ON_LAN, NOW).dropReason, 'no-message-type');
  });

  test('an interface or relay with no configured subnet', () => {
    const { engine } = makeEngine();
    const elsewhere = { ...ON_LAN, interface: { name: 'eth9', ifindex: 9, addresses: [{ address: '192.168.7.1', prefixLength: 24 }] } };
    assert.equal(engine.handle(clientPacket({ type: discover, mac: MAC_A }), elsewhere, NOW).dropReason, 'no-subnet');
    const relayed = clientPacket({ type: discover, mac: MAC_A, giaddr: '172.16.0.1' });
    assert.equal(engine.handle(relayed, FROM_RELAY, NOW).dropReason, 'no-subnet');
  });

  test('a server message type sent by a client', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: DhcpMessageType.ack, mac: MAC_A }), ON_LAN, NOW);
    assert.equal(decision.dropReason, 'ignored');
    assert.equal(decision.event.type, 'dhcp.drop');
  });

  test('a failing inventory lookup is a drop, not an exception', () => {
    const { engine } = makeEngine({
      reservation: () => {
        throw new Error('inventory unavailable');
      },
    });
    const decision = engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW);
    assert.equal(decision.dropReason, 'internal-error');
    assert.match(decision.event.detail ?? '', /inventory unavailable/);
    assert.equal(engine.leases.size, 0);
  });
});

describe('DISCOVER', () => {
  test('a captured dhclient DISCOVER gets the first pool address, broadcast on the arrival interface', () => {
    const { engine } = makeEngine();
    const packet = capturedPacket('dhclient-discover.hex');
    const decision = engine.handle(packet, ON_LAN, NOW);
    const offer = replyOf(decision);
    assert.equal(offer.op, 2);
    assert.equal(offer.messageType, DhcpMessageType.offer);
    assert.equal(offer.xid, packet.xid);
    assert.equal(offer.chaddr, CAPTURED_MAC);
    assert.equal(offer.yiaddr, '10.0.0.100');
    assert.equal(offer.ciaddr, '0.0.0.0');
    assert.equal(offer.siaddr, '0.0.0.0');
    assert.equal(offer.file, '');
    assert.deepEqual(decision.reply?.to, { address: '255.255.255.255', port: 68, ifindex: 2, source: SERVER });
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 51, 58, 59, 1, 3, 6, 15]);
    assert.equal(offer.serverId, SERVER);
    assert.equal(seconds(offer, DhcpOption.leaseTime), 3600);
    assert.equal(seconds(offer, DhcpOption.renewalTime), 1800);
    assert.equal(seconds(offer, DhcpOption.rebindingTime), 3150);
    assert.equal(decodeIpv4(offer.options.get(DhcpOption.subnetMask)!), '255.255.255.0');
    assert.equal(decodeIpv4(offer.options.get(DhcpOption.routers)!), '10.0.0.1');
    assert.deepEqual(decodeIpv4List(offer.options.get(DhcpOption.dnsServers)!), ['10.0.0.2', '10.0.0.3']);
    assert.equal(text(offer, DhcpOption.domainName), 'lab.example');
    assert.deepEqual(decision.event, { type: 'dhcp.offer', mac: CAPTURED_MAC, address: '10.0.0.100', subnet: 'lan', detail: 'not a network boot client' });
    assert.equal(decision.dropReason, null);
    // The offer is held in memory; nothing needs to be durable for it.
    assert.deepEqual(decision.leaseChanges, []);
    const held = engine.leases.byAddress('10.0.0.100');
    assert.equal(held?.state, 'offered');
    assert.equal(held?.mac, CAPTURED_MAC);
    assert.equal(held?.expiresAt, NOW + 60_000);
    assert.equal(held?.hostname, 'vm');
  });

  test('the captured udhcpc DISCOVER (maximum message size 576) is answered within it', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(capturedPacket('udhcpc-discover.hex'), ON_LAN, NOW);
    assert.ok(decision.reply !== null && decision.reply.bytes.length <= 576 - 28);
    assert.equal(replyOf(decision).yiaddr, '10.0.0.100');
    assert.equal(engine.leases.byAddress('10.0.0.100')?.clientId, '01:52:54:00:ab:cd:ef');
  });

  test('a retransmitted DISCOVER gets the same address; the next client the next one', () => {
    const { engine } = makeEngine();
    const first = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW)).yiaddr;
    const again = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A, xid: 2 }), ON_LAN, NOW + 4000)).yiaddr;
    const other = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 4000)).yiaddr;
    assert.equal(again, first);
    assert.notEqual(other, first);
  });

  test('an expired offer hold goes to another client', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })] });
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW)).yiaddr, '10.0.0.100');
    assert.equal(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 59_999).dropReason, 'pool-exhausted');
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 60_000)).yiaddr, '10.0.0.100');
  });

  test('a reservation wins, inside or outside the pools, and its hostname is sent', () => {
    const { engine, reservations } = makeEngine();
    reservations.set(MAC_A, { address: '10.0.0.20', hostname: 'node01' });
    const decision = engine.handle(clientPacket({ type: discover, mac: MAC_A, requested: '10.0.0.150' }), ON_LAN, NOW);
    const offer = replyOf(decision);
    assert.equal(offer.yiaddr, '10.0.0.20');
    assert.equal(text(offer, DhcpOption.hostName), 'node01');
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 51, 58, 59, 1, 3, 6, 15, 12]);
  });

  test('a reservation in another subnet does not count here', () => {
    const { engine, reservations } = makeEngine();
    reservations.set(MAC_A, { address: '10.1.0.20', hostname: 'node01' });
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW));
    assert.equal(offer.yiaddr, '10.0.0.100');
    assert.equal(offer.options.has(DhcpOption.hostName), false);
  });

  test('a reserved address another client still holds is not taken from it', () => {
    const { engine, reservations } = makeEngine();
    assert.equal(replyOf(bind(engine, MAC_B)).yiaddr, '10.0.0.100');
    reservations.set(MAC_A, { address: '10.0.0.100', hostname: null });
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW)).yiaddr, '10.0.0.101');
  });

  test('the requested address when free in a pool; otherwise the next free one', () => {
    const { engine, reservations } = makeEngine();
    reservations.set(MAC_B, { address: '10.0.0.160', hostname: null });
    const offered = (mac: string, requested: string): string =>
      replyOf(engine.handle(clientPacket({ type: discover, mac, requested }), ON_LAN, NOW)).yiaddr;
    assert.equal(offered(MAC_A, '10.0.0.150'), '10.0.0.150');
    assert.equal(offered('52:54:00:00:00:01', '10.0.0.150'), '10.0.0.100', 'held for MAC_A');
    assert.equal(offered('52:54:00:00:00:02', '10.0.0.20'), '10.0.0.101', 'outside the pool');
    assert.equal(offered('52:54:00:00:00:03', '10.0.0.160'), '10.0.0.102', 'reserved for MAC_B');
    assert.equal(offered('52:54:00:00:00:04', SERVER), '10.0.0.103', 'the server itself');
  });

  test('pool scans skip reserved addresses and the server’s own address', () => {
    const { engine, reservations } = makeEngine({
      subnets: [lanSubnet({ pools: [{ start: '10.0.0.9', end: '10.0.0.12' }] })],
    });
    reservations.set(MAC_B, { address: '10.0.0.9', hostname: null });
    const offered = ['01', '02'].map((n) => replyOf(engine.handle(clientPacket({ type: discover, mac: `52:54:00:00:01:${n}` }), ON_LAN, NOW)).yiaddr);
    assert.deepEqual(offered, ['10.0.0.11', '10.0.0.12']);
  });

  test('a client with a lease is offered its own address, and the lease stays bound', () => {
    const { engine } = makeEngine();
    replyOf(bind(engine, MAC_B));
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW + 1000));
    assert.equal(offer.yiaddr, address);
    assert.equal(engine.leases.byAddress(address)?.state, 'bound');
  });

  test('a client that released its lease gets the same address back', () => {
    const { engine } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    engine.handle(clientPacket({ type: release, mac: MAC_A, ciaddr: address, serverId: SERVER }), ON_LAN, NOW + 1000);
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW + 2000)).yiaddr, address);
  });

  test('full pools: no offer, reason pool-exhausted; no pools at all: no-pool', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.101' }] })] });
    bind(engine, MAC_A);
    bind(engine, MAC_B);
    const decision = engine.handle(clientPacket({ type: discover, mac: '52:54:00:00:00:0c' }), ON_LAN, NOW);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, 'pool-exhausted');
    assert.equal(decision.event.type, 'dhcp.discover');

    const reservedOnly = makeEngine({ subnets: [lanSubnet({ pools: [] })] });
    assert.equal(reservedOnly.engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW).dropReason, 'no-pool');
    reservedOnly.reservations.set(MAC_A, { address: '10.0.0.50', hostname: null });
    assert.equal(replyOf(reservedOnly.engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW)).yiaddr, '10.0.0.50');
  });

  test('IPv6 addresses of the arrival interface are not server identifiers', () => {
    const { engine } = makeEngine();
    const addresses = [{ address: 'fe80::1', prefixLength: 64 }, ...ON_LAN.interface.addresses];
    const dualStack = { ...ON_LAN, interface: { ...ON_LAN.interface, addresses } };
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), dualStack, NOW)).serverId, SERVER);
  });

  test('the options after the fixed ones follow the client’s option 55 order', () => {
    const { engine } = makeEngine();
    const pxe = { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', architecture: 7, uuid: UUID };
    const asked = engine.handle(clientPacket({ type: discover, mac: MAC_A, ...pxe, parameters: [97, 1, 60, 67] }), ON_LAN, NOW);
    assert.deepEqual(optionCodes(asked.reply!.bytes), [53, 54, 51, 58, 59, 1, 3, 6, 15, 97, 60, 67]);
    const unasked = engine.handle(clientPacket({ type: discover, mac: MAC_B, ...pxe }), ON_LAN, NOW);
    assert.deepEqual(optionCodes(unasked.reply!.bytes), [53, 54, 51, 58, 59, 1, 3, 6, 15, 60, 97]);
  });
});

describe('relay agents', () => {
  const relayed = (fields: Partial<ClientMessage>): DhcpPacket =>
    clientPacket({ type: discover, mac: MAC_A, giaddr: '10.1.0.1', options: [[DhcpOption.relayAgentInfo, Uint8Array.of(1, 3, 0x65, 0x74, 0x31, 2, 1, 9)]], ...fields });

  test('the subnet of giaddr; the reply to giaddr:67 with option 54 the arrival address and 82 echoed last', () => {
    const { engine } = makeEngine();
    const packet = relayed({});
    const decision = engine.handle(packet, FROM_RELAY, NOW);
    const offer = replyOf(decision);
    assert.equal(offer.yiaddr, '10.1.0.50');
    assert.equal(offer.giaddr, '10.1.0.1');
    assert.equal(offer.serverId, SERVER);
    assert.equal(decision.event.subnet, 'rack');
    assert.deepEqual(decision.reply?.to, { address: '10.1.0.1', port: 67, ifindex: null, source: SERVER });
    assert.deepEqual(offer.options.get(DhcpOption.relayAgentInfo), packet.options.get(DhcpOption.relayAgentInfo));
    assert.equal(optionCodes(decision.reply!.bytes).at(-1), DhcpOption.relayAgentInfo);
    assert.equal(decodeIpv4(offer.options.get(DhcpOption.routers)!), '10.1.0.1');
  });

  test('the client’s broadcast flag is kept, set or not', () => {
    const { engine } = makeEngine();
    assert.equal(replyOf(engine.handle(relayed({ flags: 0x8000 }), FROM_RELAY, NOW)).flags, 0x8000);
    assert.equal(replyOf(engine.handle(relayed({ mac: MAC_B, flags: 0 }), FROM_RELAY, NOW)).flags, 0);
  });

  test('a relayed NAK goes to giaddr:67 with the broadcast bit set', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(relayed({ type: request, requested: '10.0.0.100', flags: 0 }), FROM_RELAY, NOW);
    const nak = replyOf(decision);
    assert.equal(nak.messageType, DhcpMessageType.nak);
    assert.equal(nak.flags & 0x8000, 0x8000);
    assert.deepEqual(decision.reply?.to, { address: '10.1.0.1', port: 67, ifindex: null, source: SERVER });
    assert.equal(text(nak, DhcpOption.message), 'wrong network');
  });

  test('a relayed DORA binds in the relay’s subnet', () => {
    const { engine } = makeEngine();
    const offer = replyOf(engine.handle(relayed({}), FROM_RELAY, NOW));
    const decision = engine.handle(relayed({ type: request, requested: offer.yiaddr, serverId: SERVER }), FROM_RELAY, NOW);
    assert.equal(replyOf(decision).messageType, DhcpMessageType.ack);
    assert.equal(decision.leaseChanges[0]?.subnet, 'rack');
  });
});

describe('REQUEST in SELECTING state (option 54)', () => {
  test('for us: ACK, and the bound lease must be durable first', () => {
    const { engine } = makeEngine();
    const decision = bind(engine, MAC_A, NOW, { hostname: 'vm1' });
    const ack = replyOf(decision);
    assert.equal(ack.messageType, DhcpMessageType.ack);
    assert.equal(ack.yiaddr, '10.0.0.100');
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 51, 58, 59, 1, 3, 6, 15]);
    assert.deepEqual(decision.reply?.to, { address: '255.255.255.255', port: 68, ifindex: 2, source: SERVER });
    const bound: LeaseRecord = {
      address: '10.0.0.100',
      mac: MAC_A,
      subnet: 'lan',
      state: 'bound',
      expiresAt: NOW + 3_600_000,
      hostname: 'vm1',
      clientId: null,
    };
    assert.deepEqual(decision.leaseChanges, [bound]);
    assert.deepEqual(engine.leases.byAddress('10.0.0.100'), bound);
    assert.deepEqual(decision.event, { type: 'dhcp.ack', mac: MAC_A, address: '10.0.0.100', subnet: 'lan', detail: 'not a network boot client' });
  });

  test('for another server: silent, and our offer goes back to the pool', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })] });
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW));
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.200', serverId: '10.0.0.250' }), ON_LAN, NOW);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, 'not-for-us');
    assert.equal(decision.event.type, 'dhcp.request');
    assert.deepEqual(decision.leaseChanges, []);
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW)).yiaddr, offer.yiaddr);
  });

  test('an address another client holds: NAK, broadcast, with nothing but 53, 54 and 56', () => {
    const { engine } = makeEngine();
    bind(engine, MAC_B);
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.100', serverId: SERVER, flags: 0 }), ON_LAN, NOW);
    const nak = replyOf(decision);
    assert.equal(nak.messageType, DhcpMessageType.nak);
    assert.equal(nak.yiaddr, '0.0.0.0');
    assert.equal(nak.ciaddr, '0.0.0.0');
    assert.equal(nak.siaddr, '0.0.0.0');
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 56]);
    assert.deepEqual(decision.reply?.to, { address: '255.255.255.255', port: 68, ifindex: 2, source: SERVER });
    assert.deepEqual(decision.leaseChanges, []);
    assert.equal(decision.event.type, 'dhcp.nak');
  });

  test('a client with a reservation asking for another address is told no, so it comes back for its own', () => {
    const { engine, reservations } = makeEngine();
    reservations.set(MAC_A, { address: '10.0.0.20', hostname: null });
    const nak = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.150', serverId: SERVER }), ON_LAN, NOW);
    assert.equal(replyOf(nak).messageType, DhcpMessageType.nak);
    const ack = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.20', serverId: SERVER }), ON_LAN, NOW);
    assert.equal(replyOf(ack).messageType, DhcpMessageType.ack);
  });

  test('a REQUEST for a free pool address whose offer was lost (restart) is granted', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.140', serverId: SERVER }), ON_LAN, NOW);
    assert.equal(replyOf(decision).yiaddr, '10.0.0.140');
  });

  test('binding a new address gives the client’s old lease back', () => {
    const { engine, reservations } = makeEngine();
    const old = replyOf(bind(engine, MAC_A)).yiaddr;
    reservations.set(MAC_A, { address: '10.0.0.20', hostname: null });
    const decision = bind(engine, MAC_A, NOW + 1000);
    assert.equal(replyOf(decision).yiaddr, '10.0.0.20');
    assert.deepEqual(
      decision.leaseChanges.map((record) => [record.address, record.state]),
      [
        ['10.0.0.20', 'bound'],
        [old, 'released'],
      ],
    );
    assert.equal(engine.leases.byMac('lan', MAC_A)?.address, '10.0.0.20');
  });
});

describe('REQUEST in INIT-REBOOT state (option 50, no ciaddr)', () => {
  test('the client’s own address: ACK', () => {
    const { engine } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: address }), ON_LAN, NOW + 5000);
    assert.equal(replyOf(decision).messageType, DhcpMessageType.ack);
    assert.equal(decision.leaseChanges[0]?.expiresAt, NOW + 5000 + 3_600_000);
  });

  test('an expired lease of the client whose address is still free: ACK', () => {
    const { engine } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const later = NOW + 10 * 3_600_000;
    assert.equal(replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, requested: address }), ON_LAN, later)).messageType, DhcpMessageType.ack);
  });

  test('a wrong address or a wrong network: NAK', () => {
    const { engine } = makeEngine();
    bind(engine, MAC_A);
    const wrongAddress = replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.150' }), ON_LAN, NOW));
    assert.equal(wrongAddress.messageType, DhcpMessageType.nak);
    assert.equal(text(wrongAddress, DhcpOption.message), 'wrong address');
    const wrongNetwork = replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '192.168.1.5' }), ON_LAN, NOW));
    assert.equal(wrongNetwork.messageType, DhcpMessageType.nak);
    assert.equal(text(wrongNetwork, DhcpOption.message), 'wrong network');
  });

  test('a client the server knows nothing about: silence (RFC 2131 4.3.2)', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.150' }), ON_LAN, NOW);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, 'unknown-client');
  });

  test('an unknown client asking for another client’s address: NAK', () => {
    const { engine } = makeEngine();
    const taken = replyOf(bind(engine, MAC_B)).yiaddr;
    assert.equal(replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, requested: taken }), ON_LAN, NOW)).messageType, DhcpMessageType.nak);
  });

  test('a reserved client rebooting with its reserved address: ACK', () => {
    const { engine, reservations } = makeEngine();
    reservations.set(MAC_A, { address: '10.0.0.20', hostname: 'node01' });
    const ack = replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.0.0.20' }), ON_LAN, NOW));
    assert.equal(ack.messageType, DhcpMessageType.ack);
    assert.equal(text(ack, DhcpOption.hostName), 'node01');
  });
});

describe('REQUEST in RENEWING and REBINDING states (ciaddr)', () => {
  test('the client’s lease: ACK unicast to ciaddr:68, lease extended', () => {
    const { engine } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const later = NOW + 1_800_000;
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr: address }), ON_LAN, later);
    const ack = replyOf(decision);
    assert.equal(ack.messageType, DhcpMessageType.ack);
    assert.equal(ack.ciaddr, address);
    assert.equal(ack.yiaddr, address);
    assert.deepEqual(decision.reply?.to, { address, port: 68, ifindex: null, source: SERVER });
    assert.equal(decision.leaseChanges[0]?.expiresAt, later + 3_600_000);
  });

  test('another client’s address or an unknown one: NAK, broadcast', () => {
    const { engine } = makeEngine();
    const theirs = replyOf(bind(engine, MAC_B)).yiaddr;
    for (const ciaddr of [theirs, '10.0.0.170']) {
      const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr }), ON_LAN, NOW);
      assert.equal(replyOf(decision).messageType, DhcpMessageType.nak, ciaddr);
      assert.equal(decision.reply?.to.address, '255.255.255.255');
    }
  });

  test('an address since reserved for another machine: NAK, so the client moves', () => {
    const { engine, reservations } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    reservations.set(MAC_B, { address, hostname: null });
    assert.equal(replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr: address }), ON_LAN, NOW)).messageType, DhcpMessageType.nak);
  });

  test('a routed client renewing by unicast (no giaddr) is judged in the subnet of its ciaddr', () => {
    const { engine } = makeEngine();
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A, giaddr: '10.1.0.1' }), FROM_RELAY, NOW));
    engine.handle(clientPacket({ type: request, mac: MAC_A, giaddr: '10.1.0.1', requested: offer.yiaddr, serverId: SERVER }), FROM_RELAY, NOW);
    const unicast = { ...ON_LAN, source: { address: offer.yiaddr, port: 68 } };
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr: offer.yiaddr }), unicast, NOW + 1000);
    assert.equal(replyOf(decision).messageType, DhcpMessageType.ack);
    assert.equal(decision.event.subnet, 'rack');
    assert.deepEqual(decision.reply?.to, { address: offer.yiaddr, port: 68, ifindex: null, source: SERVER });
  });
});

describe('DECLINE', () => {
  test('quarantines the address (durable), sends nothing, and the client gets another one', () => {
    const { engine } = makeEngine();
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const decision = engine.handle(clientPacket({ type: decline, mac: MAC_A, requested: address, serverId: SERVER }), ON_LAN, NOW + 1000);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, null);
    assert.equal(decision.event.type, 'dhcp.decline');
    assert.deepEqual(decision.leaseChanges, [
      { address, mac: null, subnet: 'lan', state: 'declined', expiresAt: NOW + 1000 + 600_000, hostname: null, clientId: null },
    ]);
    assert.notEqual(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A }), ON_LAN, NOW + 2000)).yiaddr, address);
  });

  test('the quarantine ends after declineQuarantineSeconds', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })] });
    engine.handle(clientPacket({ type: decline, mac: MAC_A, requested: '10.0.0.100', serverId: SERVER }), ON_LAN, NOW);
    assert.equal(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 599_999).dropReason, 'pool-exhausted');
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 600_000)).yiaddr, '10.0.0.100');
  });

  test('naming another server, or another client’s lease: ignored', () => {
    const { engine } = makeEngine();
    const theirs = replyOf(bind(engine, MAC_B)).yiaddr;
    const otherServer = engine.handle(clientPacket({ type: decline, mac: MAC_A, requested: '10.0.0.150', serverId: '10.0.0.250' }), ON_LAN, NOW);
    assert.equal(otherServer.dropReason, 'not-for-us');
    const stolen = engine.handle(clientPacket({ type: decline, mac: MAC_A, requested: theirs, serverId: SERVER }), ON_LAN, NOW);
    assert.equal(stolen.dropReason, 'ignored');
    assert.deepEqual(stolen.leaseChanges, []);
    assert.equal(engine.leases.byAddress(theirs)?.state, 'bound');
  });
});

describe('RELEASE', () => {
  test('frees the lease (durable), sends nothing; another client may then have the address', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })] });
    const address = replyOf(bind(engine, MAC_A)).yiaddr;
    const decision = engine.handle(clientPacket({ type: release, mac: MAC_A, ciaddr: address, serverId: SERVER }), ON_LAN, NOW + 1000);
    assert.equal(decision.reply, null);
    assert.equal(decision.dropReason, null);
    assert.equal(decision.event.type, 'dhcp.release');
    assert.equal(decision.leaseChanges.length, 1);
    assert.equal(decision.leaseChanges[0]?.state, 'released');
    assert.equal(decision.leaseChanges[0]?.mac, MAC_A);
    assert.equal(replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_B }), ON_LAN, NOW + 2000)).yiaddr, address);
  });

  test('another client’s lease, an unknown address or another server: nothing changes', () => {
    const { engine } = makeEngine();
    const theirs = replyOf(bind(engine, MAC_B)).yiaddr;
    assert.equal(engine.handle(clientPacket({ type: release, mac: MAC_A, ciaddr: theirs, serverId: SERVER }), ON_LAN, NOW).dropReason, 'unknown-lease');
    assert.equal(engine.handle(clientPacket({ type: release, mac: MAC_A, ciaddr: '10.0.0.180' }), ON_LAN, NOW).dropReason, 'unknown-lease');
    assert.equal(engine.handle(clientPacket({ type: release, mac: MAC_B, ciaddr: theirs, serverId: '10.9.9.9' }), ON_LAN, NOW).dropReason, 'not-for-us');
    assert.equal(engine.leases.byAddress(theirs)?.state, 'bound');
  });
});

describe('INFORM', () => {
  test('ACK with configuration only: no yiaddr, no lease time, to ciaddr:68', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: inform, mac: MAC_A, ciaddr: '10.0.0.33' }), ON_LAN, NOW);
    const ack = replyOf(decision);
    assert.equal(ack.messageType, DhcpMessageType.ack);
    assert.equal(ack.yiaddr, '0.0.0.0');
    assert.equal(ack.ciaddr, '10.0.0.33');
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 1, 3, 6, 15]);
    assert.deepEqual(decision.reply?.to, { address: '10.0.0.33', port: 68, ifindex: null, source: SERVER });
    assert.equal(engine.leases.size, 0);
    assert.equal(decision.event.detail, 'inform');
  });

  test('relayed: to giaddr:67', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: inform, mac: MAC_A, ciaddr: '10.1.0.33', giaddr: '10.1.0.1' }), FROM_RELAY, NOW);
    assert.deepEqual(decision.reply?.to, { address: '10.1.0.1', port: 67, ifindex: null, source: SERVER });
  });
});

describe('PXE, UEFI HTTP boot and iPXE on a served subnet', () => {
  test('a BIOS PXE ROM (captured busybox posing as one): undionly.kpxe over TFTP, 60 and 43 in OFFER and ACK', () => {
    const { engine } = makeEngine();
    const packet = capturedPacket('busybox-udhcpc-discover.hex');
    const selecting = clientPacket({ type: request, mac: CAPTURED_MAC, requested: '10.0.0.100', serverId: SERVER, vendorClass: packet.vendorClass! });
    for (const message of [packet, selecting]) {
      const reply = replyOf(engine.handle(message, ON_LAN, NOW));
      assert.equal(reply.yiaddr, '10.0.0.100');
      assert.equal(reply.file, 'undionly.kpxe');
      assert.equal(reply.siaddr, SERVER);
      assert.equal(text(reply, DhcpOption.vendorClass), 'PXEClient');
      assert.deepEqual(reply.options.get(DhcpOption.vendorSpecific), encodePxeVendorOptions([[6, Uint8Array.of(8)]]));
      assert.deepEqual([...reply.options.get(DhcpOption.vendorSpecific)!], [6, 1, 8, 255]);
    }
  });

  test('x64 UEFI PXE: ipxe.efi from the configured next server, option 97 echoed, no 43', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ nextServer: '10.0.0.20' })] });
    const decision = engine.handle(
      clientPacket({ type: discover, mac: MAC_A, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', architecture: 7, uuid: UUID }),
      ON_LAN,
      NOW,
    );
    const offer = replyOf(decision);
    assert.equal(offer.file, 'ipxe.efi');
    assert.equal(offer.siaddr, '10.0.0.20');
    assert.deepEqual(offer.options.get(DhcpOption.clientUuid), UUID);
    assert.equal(offer.options.has(DhcpOption.vendorSpecific), false);
    assert.equal(decision.event.detail, 'pxe ipxe.efi');
  });

  test('UEFI HTTP boot: the URL of ipxe.efi and option 60 HTTPClient', () => {
    const { engine } = makeEngine();
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A, vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', architecture: 16 }), ON_LAN, NOW));
    assert.equal(offer.file, `http://${SERVER}:8080/boot/files/ipxe.efi`);
    assert.equal(text(offer, DhcpOption.vendorClass), 'HTTPClient');
    assert.equal(offer.siaddr, '0.0.0.0');
  });

  test('iPXE: its per-machine script from the configured boot server', () => {
    const { engine } = makeEngine({ subnets: [lanSubnet({ bootServer: 'boot.lab.example:8443' })] });
    const decision = bind(engine, MAC_A, NOW, { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', architecture: 0, userClass: 'iPXE' });
    assert.equal(replyOf(decision).file, `http://boot.lab.example:8443/boot/ipxe/${MAC_A}`);
  });

  test('a boot file URL too long for the file field goes in option 67', () => {
    const bootServer = `${'b'.repeat(100)}.example`;
    const { engine } = makeEngine({ subnets: [lanSubnet({ bootServer })] });
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A, userClass: 'iPXE' }), ON_LAN, NOW));
    assert.equal(offer.file, '');
    assert.equal(text(offer, DhcpOption.bootfileName), `http://${bootServer}/boot/ipxe/${MAC_A}`);
  });
});

describe('ProxyDHCP', () => {
  const biosPxe = { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', architecture: 0, uuid: UUID };

  test('a PXE DISCOVER: OFFER with yiaddr 0, boot information and 53, 54, 60, 97, 43; no lease', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: discover, mac: MAC_A, ...biosPxe }), ON_PROXY_LAN, NOW);
    const offer = replyOf(decision);
    assert.equal(offer.messageType, DhcpMessageType.offer);
    assert.equal(offer.yiaddr, '0.0.0.0');
    assert.equal(offer.siaddr, PROXY_SERVER);
    assert.equal(offer.file, 'undionly.kpxe');
    assert.equal(offer.flags & 0x8000, 0x8000);
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 60, 97, 43]);
    assert.equal(offer.serverId, PROXY_SERVER);
    assert.deepEqual(decision.reply?.to, { address: '255.255.255.255', port: 68, ifindex: 3, source: PROXY_SERVER });
    assert.deepEqual(decision.leaseChanges, []);
    assert.equal(engine.leases.size, 0);
  });

  test('UEFI PXE gets no option 43 (it asks again on port 4011)', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: discover, mac: MAC_A, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', architecture: 7 }), ON_PROXY_LAN, NOW);
    assert.deepEqual(optionCodes(decision.reply!.bytes), [53, 54, 60]);
    assert.equal(replyOf(decision).file, 'ipxe.efi');
  });

  test('non-PXE clients and REQUESTs on port 67 are ignored', () => {
    const { engine } = makeEngine();
    const plain = engine.handle(capturedPacket('dhclient-discover.hex'), ON_PROXY_LAN, NOW);
    assert.equal(plain.reply, null);
    assert.equal(plain.dropReason, 'ignored');
    const requested = engine.handle(clientPacket({ type: request, mac: MAC_A, requested: '10.2.0.50', serverId: '10.2.0.1', ...biosPxe }), ON_PROXY_LAN, NOW);
    assert.equal(requested.dropReason, 'ignored');
    assert.equal(engine.leases.size, 0);
  });

  test('a REQUEST on port 4011: ACK with the boot information, broadcast on the link to the client’s port', () => {
    const { engine } = makeEngine();
    const bootItem = Uint8Array.of(0x80, 0x00, 0x00, 0x00);
    const packet = clientPacket({
      type: request,
      mac: MAC_A,
      ciaddr: '10.2.0.77',
      vendorClass: 'PXEClient:Arch:00007:UNDI:003016',
      architecture: 7,
      uuid: UUID,
      options: [[DhcpOption.vendorSpecific, encodePxeVendorOptions([[71, bootItem]])]],
    });
    const decision = engine.handle(packet, onPort4011(ON_PROXY_LAN, { address: '10.2.0.77', port: 4011 }), NOW);
    const ack = replyOf(decision);
    assert.equal(ack.messageType, DhcpMessageType.ack);
    assert.equal(ack.yiaddr, '0.0.0.0');
    assert.equal(ack.ciaddr, '10.2.0.77');
    assert.equal(ack.file, 'ipxe.efi');
    assert.equal(ack.siaddr, PROXY_SERVER);
    // iPXE answers no ARP for the address until its DHCP is done: a unicast would never leave the server.
    assert.deepEqual(decision.reply?.to, { address: '255.255.255.255', port: 4011, ifindex: 3, source: PROXY_SERVER });
    assert.deepEqual(ack.options.get(DhcpOption.vendorSpecific), encodePxeVendorOptions([[71, bootItem]]));
    assert.equal(seconds(ack, DhcpOption.leaseTime), undefined);
    assert.equal(engine.leases.size, 0);
    // A client behind a router is unicast: the router answers ARP.
    const routed = engine.handle(packet, onPort4011(ON_PROXY_LAN, { address: '10.7.0.77', port: 68 }), NOW);
    assert.deepEqual(routed.reply?.to, { address: '10.7.0.77', port: 68, ifindex: null, source: PROXY_SERVER });
  });

  test('port 4011 ignores non-PXE clients', () => {
    const { engine } = makeEngine();
    const decision = engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr: '10.2.0.77' }), onPort4011(ON_PROXY_LAN, { address: '10.2.0.77', port: 68 }), NOW);
    assert.equal(decision.dropReason, 'ignored');
  });

  test('iPXE in proxy mode gets its script', () => {
    const { engine } = makeEngine();
    const offer = replyOf(engine.handle(clientPacket({ type: discover, mac: MAC_A, ...biosPxe, userClass: 'iPXE' }), ON_PROXY_LAN, NOW));
    assert.equal(offer.file, `http://${PROXY_SERVER}:8080/boot/ipxe/${MAC_A}`);
    assert.equal(text(offer, DhcpOption.vendorClass), 'PXEClient');
    assert.equal(offer.options.has(DhcpOption.vendorSpecific), false);
  });
});

describe('restart', () => {
  test('leases loaded from storage keep their owners', () => {
    const first = makeEngine();
    const durable = [bind(first.engine, MAC_A), bind(first.engine, MAC_B)].flatMap((decision) => decision.leaseChanges);
    const table = new LeaseTable();
    table.load(durable);
    const { engine } = makeEngine({}, table);
    const offers = ['01', '02'].map((n) => replyOf(engine.handle(clientPacket({ type: discover, mac: `52:54:00:00:02:${n}` }), ON_LAN, NOW + 1000)).yiaddr);
    assert.deepEqual(offers, ['10.0.0.102', '10.0.0.103']);
    assert.equal(replyOf(engine.handle(clientPacket({ type: request, mac: MAC_A, ciaddr: '10.0.0.100' }), ON_LAN, NOW + 2000)).messageType, DhcpMessageType.ack);
  });
});

describe('configuration', () => {
  test('bad subnets are refused when the engine is built', () => {
    assert.throws(() => makeEngine({ subnets: [lanSubnet({ network: '10.0.0.1/24' })] }), /host bits/);
    assert.throws(() => makeEngine({ subnets: [lanSubnet({ pools: [{ start: '10.0.1.1', end: '10.0.1.9' }] })] }), /outside/);
    assert.throws(() => makeEngine({ subnets: [lanSubnet(), lanSubnet()] }), /twice/);
    assert.throws(() => makeEngine({ subnets: [lanSubnet({ leaseSeconds: 0 })] }), /leaseSeconds/);
    assert.throws(
      () =>
        makeEngine({
          subnets: [
            lanSubnet({
              pools: [
                { start: '10.0.0.10', end: '10.0.0.20' },
                { start: '10.0.0.20', end: '10.0.0.30' },
              ],
            }),
          ],
        }),
      /overlap/,
    );
    assert.ok(makeEngine({ subnets: [rackSubnet(), proxySubnet()] }).engine);
  });
});
