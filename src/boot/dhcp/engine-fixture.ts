/**
 * Test fixture for the DHCP engine: client packets built with the codec as a real client would send them, a
 * small site configuration (a served LAN, a relayed rack subnet, a ProxyDHCP subnet) and arrival descriptions.
 */

import { readFileSync } from 'node:fs';
import { parseMac } from '../../core/net/index.js';
import { DEFAULT_BOOT_FILES } from './boot-file.js';
import { BootpOp, decodeDhcpPacket, encodeDhcpPacket, type DhcpPacket } from './codec.js';
import { DhcpEngine, type Arrival, type EngineConfig, type Reservation, type SubnetConfig } from './engine.js';
import { LeaseTable } from './leases.js';
import { DhcpOption, encodeIpv4, encodeText, encodeUint16, encodeUint8 } from './options.js';

/** A captured UDP payload from fixtures/, from dist/src/boot/dhcp/ (or .build-NAME/src/boot/dhcp/). */
export function capturedPacket(name: string): DhcpPacket {
  const text = readFileSync(new URL(`../../../../src/boot/dhcp/fixtures/${name}`, import.meta.url), 'utf8');
  return decodeDhcpPacket(Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex')));
}

/** The MAC in the captured fixtures. */
export const CAPTURED_MAC = '52:54:00:ab:cd:ef';

export interface ClientMessage {
  type: number;
  mac: string;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  requested?: string;
  serverId?: string;
  /** Option 55. */
  parameters?: number[];
  hostname?: string;
  vendorClass?: string;
  /** Option 77 as iPXE sends it: a bare string. */
  userClass?: string;
  architecture?: number;
  uuid?: Uint8Array;
  maxMessageSize?: number;
  /** More options, raw, after the ones above. */
  options?: Array<[number, Uint8Array]>;
  op?: number;
  htype?: number;
  hlen?: number;
}

/** A client message as the engine gets it: encoded by the codec and decoded again. */
export function clientPacket(message: ClientMessage): DhcpPacket {
  return decodeDhcpPacket(clientBytes(message));
}

export function clientBytes(message: ClientMessage): Uint8Array {
  const options: Array<[number, Uint8Array]> = [[DhcpOption.messageType, encodeUint8(message.type)]];
  if (message.requested !== undefined) options.push([DhcpOption.requestedAddress, encodeIpv4(message.requested)]);
  if (message.serverId !== undefined) options.push([DhcpOption.serverId, encodeIpv4(message.serverId)]);
  if (message.parameters !== undefined) options.push([DhcpOption.parameterRequestList, Uint8Array.from(message.parameters)]);
  if (message.maxMessageSize !== undefined) options.push([DhcpOption.maxMessageSize, encodeUint16(message.maxMessageSize)]);
  if (message.hostname !== undefined) options.push([DhcpOption.hostName, encodeText(message.hostname)]);
  if (message.architecture !== undefined) options.push([DhcpOption.clientArchitecture, encodeUint16(message.architecture)]);
  if (message.vendorClass !== undefined) options.push([DhcpOption.vendorClass, encodeText(message.vendorClass)]);
  if (message.userClass !== undefined) options.push([DhcpOption.userClass, encodeText(message.userClass)]);
  if (message.uuid !== undefined) options.push([DhcpOption.clientUuid, message.uuid]);
  options.push(...(message.options ?? []));
  const chaddrBytes = new Uint8Array(16);
  chaddrBytes.set(parseMac(message.mac));
  return encodeDhcpPacket({
    op: message.op ?? BootpOp.request,
    htype: message.htype ?? 1,
    hlen: message.hlen ?? 6,
    xid: message.xid ?? 0x1234abcd,
    flags: message.flags ?? 0,
    ciaddr: message.ciaddr ?? '0.0.0.0',
    giaddr: message.giaddr ?? '0.0.0.0',
    chaddrBytes,
    options,
    maxMessageSize: 1500,
  });
}

export const SERVER = '10.0.0.10';
export const PROXY_SERVER = '10.2.0.10';

export function lanSubnet(overrides: Partial<SubnetConfig> = {}): SubnetConfig {
  return {
    name: 'lan',
    network: '10.0.0.0/24',
    pools: [{ start: '10.0.0.100', end: '10.0.0.199' }],
    router: '10.0.0.1',
    dnsServers: ['10.0.0.2', '10.0.0.3'],
    domainName: 'lab.example',
    leaseSeconds: 3600,
    mode: 'serve',
    nextServer: null,
    bootServer: null,
    ...overrides,
  };
}

/** Behind a relay agent at 10.1.0.1. */
export function rackSubnet(overrides: Partial<SubnetConfig> = {}): SubnetConfig {
  const pools = [{ start: '10.1.0.50', end: '10.1.0.59' }];
  return lanSubnet({ name: 'rack', network: '10.1.0.0/24', pools, router: '10.1.0.1', ...overrides });
}

export function proxySubnet(overrides: Partial<SubnetConfig> = {}): SubnetConfig {
  return lanSubnet({ name: 'office', network: '10.2.0.0/24', pools: [], router: null, mode: 'proxy', ...overrides });
}

export interface EngineSetup {
  engine: DhcpEngine;
  /** MAC -> reservation; edit it to change the inventory between packets. */
  reservations: Map<string, Reservation>;
  config: EngineConfig;
}

export function makeEngine(overrides: Partial<EngineConfig> = {}, leases = new LeaseTable()): EngineSetup {
  const reservations = new Map<string, Reservation>();
  const reserved = (): Set<string> => new Set([...reservations.values()].map((reservation) => reservation.address));
  const config: EngineConfig = {
    subnets: [lanSubnet(), rackSubnet(), proxySubnet()],
    reservation: (mac) => reservations.get(mac),
    isReserved: (address) => reserved().has(address),
    httpPort: 8080,
    bootFiles: DEFAULT_BOOT_FILES,
    offerHoldSeconds: 60,
    declineQuarantineSeconds: 600,
    ...overrides,
  };
  return { engine: new DhcpEngine(config, leases), reservations, config };
}

/** Broadcast from a client on the LAN, arriving on eth0 (10.0.0.10/24). */
export const ON_LAN: Arrival = {
  interface: { name: 'eth0', ifindex: 2, addresses: [{ address: SERVER, prefixLength: 24 }] },
  source: { address: '0.0.0.0', port: 68 },
  localPort: 67,
};

/** From the relay agent of the rack subnet, arriving on eth0. */
export const FROM_RELAY: Arrival = { ...ON_LAN, source: { address: '10.1.0.1', port: 67 } };

/** On eth1 (10.2.0.10/24), where another DHCP server gives addresses and Hangar is ProxyDHCP. */
export const ON_PROXY_LAN: Arrival = {
  interface: { name: 'eth1', ifindex: 3, addresses: [{ address: PROXY_SERVER, prefixLength: 24 }] },
  source: { address: '0.0.0.0', port: 68 },
  localPort: 67,
};

export function onPort4011(arrival: Arrival, source: { address: string; port: number }): Arrival {
  return { ...arrival, source, localPort: 4011 };
}

/** The option codes of an encoded reply, in wire order. */
export function optionCodes(bytes: Uint8Array): number[] {
  const codes: number[] = [];
  for (let offset = 240; offset < bytes.length; ) {
    const code = bytes[offset]!;
    if (code === DhcpOption.end) break;
    if (code === DhcpOption.pad) {
      offset++;
      continue;
    }
    codes.push(code);
    offset += 2 + bytes[offset + 1]!;
  }
  return codes;
}
