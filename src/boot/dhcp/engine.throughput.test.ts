/**
 * Decision throughput: a boot storm of DISCOVER + REQUEST from 10,000 machines on one /16 (a tenth of them
 * reserved, a third PXE and a third iPXE), then their renewals decoded from bytes. A smaller storm first warms
 * the JIT up. Prints packets per second; asserts only that every exchange succeeded (timing on a shared machine
 * is no test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMac } from '../../core/net/index.js';
import { decodeDhcpPacket } from './codec.js';
import type { Reservation } from './engine.js';
import { DhcpMessageType } from './options.js';
import { clientBytes, clientPacket, lanSubnet, makeEngine, ON_LAN, SERVER, type ClientMessage } from './engine-fixture.js';

const NOW = 1_700_000_000_000;
const KINDS: Array<Partial<ClientMessage>> = [
  { parameters: [1, 3, 6, 12, 15, 28, 42] },
  { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', architecture: 7, parameters: [1, 3, 6, 60, 66, 67, 97] },
  { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', architecture: 0, userClass: 'iPXE', parameters: [1, 3, 6, 175] },
];

/** Wall-clock and CPU milliseconds: the CPU figure holds on a busy machine, where wall clock counts waiting. */
interface Spent {
  wallMs: number;
  cpuMs: number;
}

function measure(run: () => void): Spent {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  run();
  const used = process.cpuUsage(cpu);
  return { wallMs: performance.now() - wall, cpuMs: (used.user + used.system) / 1000 };
}

function storm(machines: number): { discover: Spent; request: Spent; renew: Spent } {
  const reservations = new Map<string, Reservation>();
  const reserved = new Set<string>();
  const macs = Array.from({ length: machines }, (_, i) => formatMac(Uint8Array.of(0x52, 0x54, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff), 'lower'));
  for (let i = 0; i < machines; i += 10) {
    const address = `10.0.${200 + ((i >> 8) % 50)}.${i & 0xff || 1}`;
    if (reserved.has(address)) continue;
    reservations.set(macs[i]!, { address, hostname: `node${i}` });
    reserved.add(address);
  }
  const { engine } = makeEngine({
    subnets: [lanSubnet({ network: '10.0.0.0/16', pools: [{ start: '10.0.1.0', end: '10.0.199.255' }] })],
    reservation: (mac) => reservations.get(mac),
    isReserved: (address) => reserved.has(address),
  });
  const discovers = macs.map((mac, i) => clientPacket({ type: DhcpMessageType.discover, mac, xid: i, ...KINDS[i % 3] }));
  let offered: Array<string | null> = [];
  const discover = measure(() => {
    offered = discovers.map((packet) => engine.handle(packet, ON_LAN, NOW).event.address);
  });

  const requests = macs.map((mac, i) => {
    assert.ok(offered[i], `no offer for ${mac}`);
    return clientPacket({ type: DhcpMessageType.request, mac, xid: i, requested: offered[i]!, serverId: SERVER, ...KINDS[i % 3] });
  });
  let acked = 0;
  const request = measure(() => {
    for (const packet of requests) if (engine.handle(packet, ON_LAN, NOW + 1000).event.type === 'dhcp.ack') acked++;
  });
  assert.equal(acked, machines);

  // Renewals as the server meets them: bytes decoded, then decided.
  const renewals = macs.map((mac, i) => clientBytes({ type: DhcpMessageType.request, mac, xid: i, ciaddr: offered[i]!, ...KINDS[i % 3] }));
  let renewed = 0;
  const renew = measure(() => {
    for (const bytes of renewals) {
      if (engine.handle(decodeDhcpPacket(bytes), ON_LAN, NOW + 1_800_000).event.type === 'dhcp.ack') renewed++;
    }
  });
  assert.equal(renewed, machines);
  return { discover, request, renew };
}

test('decision throughput', () => {
  storm(1_000);
  const machines = 10_000;
  const { discover, request, renew } = storm(machines);
  const rate = (count: number, ms: number): string => Math.round((count * 1000) / ms).toLocaleString('en-US');
  const rates = (count: number, spent: Spent): string => `${rate(count, spent.cpuMs)}/s CPU (${rate(count, spent.wallMs)}/s wall)`;
  const storming = { wallMs: discover.wallMs + request.wallMs, cpuMs: discover.cpuMs + request.cpuMs };
  console.log(
    `DHCP engine, one core: DISCOVER ${rates(machines, discover)}, REQUEST ${rates(machines, request)}; ` +
      `boot storm ${rates(2 * machines, storming)} decisions; renewals decoded and decided ${rates(machines, renew)}`,
  );
});
