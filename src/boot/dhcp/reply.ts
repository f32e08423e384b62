/**
 * Building the engine's replies: which fields and options a reply carries, in which order, and where it goes.
 * Pure; the bytes themselves come from the codec.
 */

import { numberToDottedQuad, parseDottedQuad } from '../../core/net/index.js';
import { isBootFile, type BootDecision } from './boot-file.js';
import { BootpOp, encodeDhcpPacket, type DhcpPacket } from './codec.js';
import {
  decodeSubOptions,
  DhcpOption,
  encodeIpv4,
  encodeIpv4List,
  encodePxeVendorOptions,
  encodeText,
  encodeUint32,
  PxeDiscoveryControl,
  PxeVendorOption,
} from './options.js';
import { type CompiledSubnet } from './subnet.js';

export type OptionEntry = readonly [number, Uint8Array];

export const NO_ADDRESS = '0.0.0.0';
export const BROADCAST_FLAG = 0x8000;
const BROADCAST = '255.255.255.255';
const SERVER_PORT = 67;
const CLIENT_PORT = 68;
/** The file field holds 127 bytes and a NUL; longer boot file names go in option 67 only. */
const FILE_FIELD_MAX = 127;

/** Option 43 for BIOS PXE ROMs: discovery control 8, boot from the file given, no boot server discovery. */
const PXE_SKIP_DISCOVERY = encodePxeVendorOptions([
  [PxeVendorOption.discoveryControl, Uint8Array.of(PxeDiscoveryControl.skipDiscovery)],
]);
const VENDOR_CLASS_VALUE = { PXEClient: encodeText('PXEClient'), HTTPClient: encodeText('HTTPClient') };

export interface ReplyTarget {
  address: string;
  port: number;
  /** The interface to broadcast on; null for unicast, which the routing table sends. */
  ifindex: number | null;
  /** The source address to send from: the server identifier of the reply. */
  source: string;
}

/** The header fields a reply sets; the rest are copied from the request (xid, giaddr, chaddr) or zero. */
export interface ReplyFields {
  yiaddr?: string;
  ciaddr?: string;
  siaddr?: string;
  file?: string;
  /** Default: the request's flags. */
  flags?: number;
}

/** The option values every reply on a subnet carries, encoded once. */
export interface SubnetOptions {
  readonly leaseMs: number;
  /** 1, 3, 6, 15 as configured: what an INFORM gets. */
  readonly network: readonly OptionEntry[];
  /** 51, 58 (T1 = 50 %), 59 (T2 = 87.5 %), then the network options: what an OFFER or ACK starts with. */
  readonly leaseAndNetwork: readonly OptionEntry[];
}

export function subnetOptions(subnet: CompiledSubnet): SubnetOptions {
  const { config } = subnet;
  const seconds = config.leaseSeconds;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 0xfffffffe) {
    throw new RangeError(`subnets.${config.name}.leaseSeconds: ${seconds} is not a whole number from 1 to 4294967294`);
  }
  const network: OptionEntry[] = [[DhcpOption.subnetMask, encodeIpv4(numberToDottedQuad(subnet.mask))]];
  if (config.router !== null) network.push([DhcpOption.routers, encodeIpv4(config.router)]);
  if (config.dnsServers.length > 0) network.push([DhcpOption.dnsServers, encodeIpv4List(config.dnsServers)]);
  if (config.domainName !== null && config.domainName !== '') {
    network.push([DhcpOption.domainName, encodeText(config.domainName)]);
  }
  const lease: OptionEntry[] = [
    [DhcpOption.leaseTime, encodeUint32(seconds)],
    [DhcpOption.renewalTime, encodeUint32(Math.floor(seconds / 2))],
    [DhcpOption.rebindingTime, encodeUint32(Math.floor((seconds * 7) / 8))],
  ];
  return { leaseMs: seconds * 1000, network, leaseAndNetwork: [...lease, ...network] };
}

/** An OFFER's or ACK's options before the boot ones: lease, network, and 12 for a reserved hostname. */
export function addressOptions(options: SubnetOptions, hostname: string | null | undefined): readonly OptionEntry[] {
  if (hostname === undefined || hostname === null || hostname === '') return options.leaseAndNetwork;
  return [...options.leaseAndNetwork, [DhcpOption.hostName, encodeText(hostname)]];
}

/**
 * 53 and 54 first (the codec keeps them there and 82 last), then `fixed` in order, then `requestable` in the
 * order of the client's option 55, the ones it did not ask for after. Relay agent information is echoed.
 * Throws ReplyTooLargeError when even the protected options exceed the client's maximum message size.
 */
export function encodeReply(
  request: DhcpPacket,
  messageType: Uint8Array,
  serverId: Uint8Array,
  fields: ReplyFields,
  fixed: readonly OptionEntry[],
  requestable: readonly OptionEntry[],
): Uint8Array {
  const options: OptionEntry[] = [[DhcpOption.messageType, messageType], [DhcpOption.serverId, serverId]];
  for (const entry of fixed) options.push(entry);
  appendInRequestOrder(options, requestable, request.parameterRequestList);
  const relayAgentInfo = request.options.get(DhcpOption.relayAgentInfo);
  if (relayAgentInfo !== undefined) options.push([DhcpOption.relayAgentInfo, relayAgentInfo]);
  return encodeDhcpPacket({
    op: BootpOp.reply,
    htype: request.htype,
    hlen: request.hlen,
    xid: request.xid,
    flags: fields.flags ?? request.flags,
    ciaddr: fields.ciaddr ?? NO_ADDRESS,
    yiaddr: fields.yiaddr ?? NO_ADDRESS,
    siaddr: fields.siaddr ?? NO_ADDRESS,
    giaddr: request.giaddr,
    chaddrBytes: request.chaddrBytes,
    file: fields.file ?? '',
    options,
    maxMessageSize: request.maxMessageSize,
  });
}

/**
 * Appends `options` stably: those the client asked for in its order, then the others as given. An insertion sort
 * on the position in option 55: these lists are a dozen entries at most.
 */
function appendInRequestOrder(target: OptionEntry[], options: readonly OptionEntry[], requested: Uint8Array | undefined): void {
  const start = target.length;
  const ranks: number[] = [];
  for (const entry of options) {
    const position = requested === undefined ? -1 : requested.indexOf(entry[0]);
    const rank = position < 0 ? 256 : position;
    let i = target.length - start;
    while (i > 0 && ranks[i - 1]! > rank) {
      target[start + i] = target[start + i - 1]!;
      ranks[i] = ranks[i - 1]!;
      i--;
    }
    target[start + i] = entry;
    ranks[i] = rank;
  }
}

/**
 * RFC 2131 4.1: to the relay at giaddr:67; else to ciaddr:68 (never a NAK); else broadcast on the arrival
 * interface (no ARP injection, so a broadcast is the one way that always arrives). Port 4011 answers go back
 * to where the request came from.
 */
export function replyTarget(
  request: DhcpPacket,
  arrival: { interface: { ifindex: number; addresses: ReadonlyArray<{ address: string; prefixLength: number }> }; source: { address: string; port: number }; localPort: number },
  serverId: string,
  kind: 'reply' | 'nak',
): ReplyTarget {
  const unicast = (address: string, port: number): ReplyTarget => ({ address, port, ifindex: null, source: serverId });
  if (arrival.localPort === 4011) {
    // A client on the link may not answer ARP for the address it is still booting with (iPXE does not until its
    // DHCP is done), so a unicast would never leave; the broadcast reaches it. A routed client is unicast.
    const onLink = arrival.interface.addresses.some(({ address, prefixLength }) => sameNetwork(address, arrival.source.address, prefixLength));
    if (onLink) return { address: BROADCAST, port: arrival.source.port, ifindex: arrival.interface.ifindex, source: serverId };
    return unicast(arrival.source.address, arrival.source.port);
  }
  if (request.giaddr !== NO_ADDRESS) return unicast(request.giaddr, SERVER_PORT);
  if (kind === 'reply' && request.ciaddr !== NO_ADDRESS) return unicast(request.ciaddr, CLIENT_PORT);
  return { address: BROADCAST, port: CLIENT_PORT, ifindex: arrival.interface.ifindex, source: serverId };
}

/**
 * The boot part of an OFFER or ACK: siaddr and file, and options 60 and 97 echoed, 43 for BIOS PXE, 67 when
 * the name does not fit the file field or the client asks for it. Nothing for clients without a boot file.
 */
export interface BootReply {
  fields: ReplyFields;
  options: OptionEntry[];
}

export function bootReply(request: DhcpPacket, boot: BootDecision): BootReply {
  if (!isBootFile(boot)) return { fields: {}, options: [] };
  const fields: ReplyFields = {};
  const options: OptionEntry[] = [];
  if (boot.nextServer !== null) fields.siaddr = boot.nextServer;
  if (boot.vendorClass !== null) options.push([DhcpOption.vendorClass, VENDOR_CLASS_VALUE[boot.vendorClass]]);
  const uuid = request.options.get(DhcpOption.clientUuid);
  if (uuid !== undefined) options.push([DhcpOption.clientUuid, uuid]);
  if (boot.discoveryControl) options.push([DhcpOption.vendorSpecific, PXE_SKIP_DISCOVERY]);
  const file = encodeText(boot.file);
  if (file.length <= FILE_FIELD_MAX) fields.file = boot.file;
  if (file.length > FILE_FIELD_MAX || (request.parameterRequestList?.includes(DhcpOption.bootfileName) ?? false)) {
    options.push([DhcpOption.bootfileName, file]);
  }
  return { fields, options };
}

/**
 * The boot part of a port 4011 (PXE boot server) ACK: as bootReply, but option 43 echoes the boot item
 * (sub-option 71: type and layer) the client asked for instead of discovery control (PXE 2.1, 2.2.6).
 */
export function bootServerReply(request: DhcpPacket, boot: BootDecision): BootReply {
  const { fields, options } = bootReply(request, boot);
  const withoutVendorOptions = options.filter(([code]) => code !== DhcpOption.vendorSpecific);
  const raw = request.options.get(DhcpOption.vendorSpecific);
  const item = raw === undefined ? undefined : decodeSubOptions(raw, 'dhcp')?.get(PxeVendorOption.bootItem);
  if (item !== undefined && item.length === 4) {
    withoutVendorOptions.push([DhcpOption.vendorSpecific, encodePxeVendorOptions([[PxeVendorOption.bootItem, item]])]);
  }
  return { fields, options: withoutVendorOptions };
}

function sameNetwork(a: string, b: string, prefixLength: number): boolean {
  if (prefixLength === 0) return true;
  const shift = 32 - prefixLength;
  return parseDottedQuad(a) >>> shift === parseDottedQuad(b) >>> shift;
}
