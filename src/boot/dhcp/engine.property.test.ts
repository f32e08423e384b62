/**
 * Random conversations with the engine: clients DISCOVER, REQUEST in every state, DECLINE and RELEASE over a
 * pool smaller than the crowd, time passes, and the server restarts from what it made durable. Whatever the
 * order, no address is ever acknowledged to two clients at once, and every reply starts with 53 then 54.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMac } from '../../core/net/index.js';
import { BootpOp, decodeDhcpPacket, encodeDhcpPacket } from './codec.js';
import type { Arrival, Decision } from './engine.js';
import { LeaseTable, type LeaseRecord } from './leases.js';
import { DhcpMessageType, DhcpOption, encodeIpv4, encodeText, encodeUint8 } from './options.js';
import { clientPacket, FROM_RELAY, lanSubnet, makeEngine, ON_LAN, ON_PROXY_LAN, onPort4011, optionCodes, rackSubnet, proxySubnet, SERVER } from './engine-fixture.js';

const NOW = 1_700_000_000_000;
const MACS = Array.from({ length: 6 }, (_, i) => `52:54:00:00:10:0${i}`);
const POOL = ['10.0.0.100', '10.0.0.101', '10.0.0.102', '10.0.0.103'];
/** MAC 0 has a reservation outside the pool, MAC 1 one inside it. */
const RESERVED = new Map([
  [MACS[0]!, '10.0.0.50'],
  [MACS[1]!, '10.0.0.103'],
]);
const ADDRESSES = [...POOL, '10.0.0.50', '10.0.0.7', '192.168.9.9'];
const LEASE_SECONDS = 600;

type Step =
  | { kind: 'discover'; mac: number; requested: string | null }
  | { kind: 'select'; mac: number; address: string | null; ours: boolean }
  | { kind: 'init-reboot'; mac: number; address: string }
  | { kind: 'renew'; mac: number; address: string | null }
  | { kind: 'decline'; mac: number; address: string | null }
  | { kind: 'release'; mac: number; address: string | null }
  | { kind: 'wait'; seconds: number }
  | { kind: 'restart' };

const mac = fc.integer({ min: 0, max: MACS.length - 1 });
/** null means "the address this client was last offered or acknowledged", the usual case. */
const address = fc.option(fc.constantFrom(...ADDRESSES), { nil: null, freq: 2 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('discover' as const), mac, requested: address }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('select' as const), mac, address, ours: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('init-reboot' as const), mac, address: fc.constantFrom(...ADDRESSES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renew' as const), mac, address }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('decline' as const), mac, address }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), mac, address }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), seconds: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

function assertReplyShape(decision: Decision, xid: number): void {
  assert.notEqual(decision.dropReason, 'internal-error', decision.event.detail);
  if (decision.reply === null) return;
  const codes = optionCodes(decision.reply.bytes);
  assert.equal(codes[0], DhcpOption.messageType);
  assert.equal(codes[1], DhcpOption.serverId);
  const reply = decodeDhcpPacket(decision.reply.bytes);
  assert.equal(reply.op, BootpOp.reply);
  assert.equal(reply.xid, xid);
}

describe('engine properties', () => {
  test('no address is acknowledged to two clients at once, across restarts; replies start 53, 54', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const subnets = [lanSubnet({ pools: [{ start: POOL[0]!, end: POOL.at(-1)! }], leaseSeconds: LEASE_SECONDS })];
        const durable = new Map<string, LeaseRecord>();
        const start = (): ReturnType<typeof makeEngine> => {
          const table = new LeaseTable();
          table.load(durable.values());
          const setup = makeEngine({ subnets }, table);
          for (const [reservedMac, reservedAddress] of RESERVED) setup.reservations.set(reservedMac, { address: reservedAddress, hostname: null });
          return setup;
        };
        let { engine } = start();
        let now = NOW;
        let xid = 1;
        /** What each client was last offered or acknowledged. */
        const lastAddress = new Map<string, string>();
        /** Acknowledged leases, as the clients see them. */
        const granted = new Map<string, { address: string; expiresAt: number }>();

        for (const s of steps) {
          if (s.kind === 'wait') {
            now += s.seconds * 1000;
            continue;
          }
          if (s.kind === 'restart') {
            ({ engine } = start());
            continue;
          }
          const client = MACS[s.mac]!;
          const remembered = lastAddress.get(client) ?? POOL[0]!;
          xid++;
          let packet;
          switch (s.kind) {
            case 'discover':
              packet = clientPacket({ type: DhcpMessageType.discover, mac: client, xid, requested: s.requested ?? undefined });
              break;
            case 'select':
              packet = clientPacket({ type: DhcpMessageType.request, mac: client, xid, requested: s.address ?? remembered, serverId: s.ours ? SERVER : '10.0.0.250' });
              break;
            case 'init-reboot':
              packet = clientPacket({ type: DhcpMessageType.request, mac: client, xid, requested: s.address });
              break;
            case 'renew':
              packet = clientPacket({ type: DhcpMessageType.request, mac: client, xid, ciaddr: s.address ?? remembered });
              break;
            case 'decline':
              packet = clientPacket({ type: DhcpMessageType.decline, mac: client, xid, requested: s.address ?? remembered, serverId: SERVER });
              break;
            case 'release':
              packet = clientPacket({ type: DhcpMessageType.release, mac: client, xid, ciaddr: s.address ?? remembered, serverId: SERVER });
              break;
          }
          const decision = engine.handle(packet, ON_LAN, now);
          assertReplyShape(decision, xid);
          for (const record of decision.leaseChanges) durable.set(record.address, record);

          const reply = decision.reply === null ? undefined : decodeDhcpPacket(decision.reply.bytes);
          const type = reply?.messageType;
          if (type === DhcpMessageType.offer || type === DhcpMessageType.ack) {
            const given = reply!.yiaddr;
            for (const [other, lease] of granted) {
              if (other !== client && lease.address === given && lease.expiresAt > now) {
                assert.fail(`${given} ${type === DhcpMessageType.ack ? 'acknowledged' : 'offered'} to ${client} while ${other} holds it`);
              }
            }
            const allowed = POOL.includes(given) || RESERVED.get(client) === given;
            assert.ok(allowed, `${given} is neither in the pool nor ${client}'s reservation`);
            if (POOL.includes(given) && RESERVED.get(client) !== given) {
              assert.ok(![...RESERVED.values()].includes(given), `${given} is reserved for another machine`);
            }
            lastAddress.set(client, given);
            if (type === DhcpMessageType.ack) {
              granted.set(client, { address: given, expiresAt: now + LEASE_SECONDS * 1000 });
              assert.ok(decision.leaseChanges.some((record) => record.address === given && record.state === 'bound' && record.mac === client));
            }
          } else if (decision.dropReason === null && decision.event.type === 'dhcp.release') {
            if (granted.get(client)?.address === decision.event.address) granted.delete(client);
          } else if (decision.dropReason === null && decision.event.type === 'dhcp.decline') {
            if (granted.get(client)?.address === decision.event.address) granted.delete(client);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('never throws on arbitrary decodable packets from anywhere', () => {
    const arrivals: Arrival[] = [
      ON_LAN,
      FROM_RELAY,
      ON_PROXY_LAN,
      onPort4011(ON_PROXY_LAN, { address: '10.2.0.77', port: 4011 }),
      onPort4011(ON_LAN, { address: '10.0.0.77', port: 68 }),
      { ...ON_LAN, interface: { name: 'lo', ifindex: 1, addresses: [] } },
    ];
    const ip = fc.oneof(fc.constantFrom('0.0.0.0', SERVER, '10.1.0.1', '10.0.0.100', '10.2.0.77'), fc.ipV4());
    const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
    const option = fc.oneof(
      fc.tuple(fc.constant(DhcpOption.requestedAddress), ip.map(encodeIpv4)),
      fc.tuple(fc.constant(DhcpOption.serverId), ip.map(encodeIpv4)),
      fc.tuple(fc.constant(DhcpOption.requestedAddress), bytes(6)),
      fc.tuple(fc.constant(DhcpOption.parameterRequestList), bytes(40)),
      fc.tuple(fc.constant(DhcpOption.maxMessageSize), bytes(3)),
      fc.tuple(fc.constant(DhcpOption.vendorClass), fc.constantFrom('PXEClient:Arch:00000', 'PXEClient:Arch:00007', 'HTTPClient:Arch:00016', 'PXEClient', 'x').map(encodeText)),
      fc.tuple(fc.constant(DhcpOption.userClass), fc.oneof(fc.constant(encodeText('iPXE')), bytes(20))),
      fc.tuple(fc.constant(DhcpOption.clientArchitecture), bytes(6)),
      fc.tuple(fc.constant(DhcpOption.clientUuid), bytes(17)),
      fc.tuple(fc.constant(DhcpOption.relayAgentInfo), bytes(30)),
      fc.tuple(fc.constant(DhcpOption.ipxeEncapsulated), bytes(20)),
      fc.tuple(fc.constant(DhcpOption.vendorSpecific), bytes(20)),
      fc.tuple(fc.constant(DhcpOption.clientId), bytes(20)),
      fc.tuple(fc.constant(DhcpOption.hostName), bytes(20)),
    );
    const packetBytes = fc.record({
      op: fc.constantFrom(1, 1, 1, 2),
      htype: fc.constantFrom(1, 1, 6),
      hlen: fc.constantFrom(6, 6, 0, 16),
      flags: fc.constantFrom(0, 0x8000),
      ciaddr: ip,
      giaddr: ip,
      messageType: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined, freq: 8 }),
      options: fc.uniqueArray(option, { selector: ([code]) => code, maxLength: 8 }),
      mac: fc.constantFrom(...MACS),
    });
    const setup = makeEngine({ subnets: [lanSubnet(), rackSubnet(), proxySubnet()] });
    setup.reservations.set(MACS[0]!, { address: '10.0.0.50', hostname: 'node0' });
    fc.assert(
      fc.property(packetBytes, fc.constantFrom(...arrivals), fc.integer({ min: 0, max: 10_000_000 }), (fields, arrival, offset) => {
        const chaddrBytes = new Uint8Array(16);
        chaddrBytes.set(parseMac(fields.mac));
        const options: Array<readonly [number, Uint8Array]> = fields.messageType === undefined ? [] : [[DhcpOption.messageType, encodeUint8(fields.messageType)]];
        const encoded = encodeDhcpPacket({ ...fields, xid: 7, chaddrBytes, options: [...options, ...fields.options], maxMessageSize: 1500 });
        const decision = setup.engine.handle(decodeDhcpPacket(encoded), arrival, NOW + offset);
        assertReplyShape(decision, 7);
      }),
      { numRuns: 3000 },
    );
  });
});
