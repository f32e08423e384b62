/**
 * DHCPv4 options: codes, and the value encoders and decoders a PXE boot server needs. Pure: bytes and plain
 * values only. Formats: RFC 2132 (basic options), 3004 (user class), 3046 (relay agent information), 3397
 * (domain search), 3442 (classless static routes), 4578 (PXE client options), iPXE's option 175.
 *
 * Decoders return undefined for a value that does not fit its format, so a reader of a client's packet never
 * throws; encoders throw RangeError for values that cannot be put on the wire (a programming error).
 */

import { numberToDottedQuad, parseDottedQuad } from '../../core/net/index.js';

export const DhcpOption = {
  pad: 0,
  subnetMask: 1,
  routers: 3,
  dnsServers: 6,
  hostName: 12,
  domainName: 15,
  broadcastAddress: 28,
  ntpServers: 42,
  vendorSpecific: 43,
  requestedAddress: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  vendorClass: 60,
  clientId: 61,
  tftpServerName: 66,
  bootfileName: 67,
  userClass: 77,
  relayAgentInfo: 82,
  clientArchitecture: 93,
  clientNdi: 94,
  clientUuid: 97,
  domainSearch: 119,
  classlessRoutes: 121,
  ipxeEncapsulated: 175,
  wpad: 252,
  end: 255,
} as const;

export const DhcpMessageType = {
  discover: 1,
  offer: 2,
  request: 3,
  decline: 4,
  ack: 5,
  nak: 6,
  release: 7,
  inform: 8,
} as const;

/** Option 52 values: which fixed fields carry options (RFC 2132 9.3). */
export const OverloadField = { file: 1, sname: 2, both: 3 } as const;

/** Sub-options of option 43 when the vendor class is PXEClient (PXE 2.1 spec, table 2-1). */
export const PxeVendorOption = {
  discoveryControl: 6,
  bootServers: 8,
  bootMenu: 9,
  menuPrompt: 10,
  bootItem: 71,
  end: 255,
} as const;

/** Bits of PXE discovery control (sub-option 6); skipDiscovery (8) is what a ProxyDHCP offer with a file sets. */
export const PxeDiscoveryControl = {
  noBroadcast: 1,
  noMulticast: 2,
  onlyListedServers: 4,
  skipDiscovery: 8,
} as const;

export const RelayAgentSubOption = { circuitId: 1, remoteId: 2 } as const;

/** A few of iPXE's option 175 sub-options (iPXE include/ipxe/dhcp.h, features.h). */
export const IpxeOption = {
  priority: 0x01,
  featurePxeExt: 0x10,
  featureIscsi: 0x11,
  featureAoe: 0x12,
  featureHttp: 0x13,
  featureHttps: 0x14,
  featureTftp: 0x15,
  featureDns: 0x17,
  busId: 0xb1,
  version: 0xeb,
} as const;

// ---------------------------------------------------------------- IPv4 addresses

/** Dotted quad of the 4 bytes at offset; the caller has checked that they exist. */
export function formatIpv4(bytes: Uint8Array, offset: number): string {
  return numberToDottedQuad(((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0);
}

/** Writes a strict dotted quad (no leading zeros, no spaces) into target at offset, without allocating. */
export function writeIpv4(target: Uint8Array, offset: number, address: string): void {
  const value = parseDottedQuad(address);
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

/** Options 1, 28, 50, 54. */
export function encodeIpv4(address: string): Uint8Array {
  const value = new Uint8Array(4);
  writeIpv4(value, 0, address);
  return value;
}

/** Options 3, 6, 42. */
export function encodeIpv4List(addresses: readonly string[]): Uint8Array {
  const value = new Uint8Array(addresses.length * 4);
  addresses.forEach((address, index) => writeIpv4(value, index * 4, address));
  return value;
}

export function decodeIpv4(raw: Uint8Array): string | undefined {
  return raw.length === 4 ? formatIpv4(raw, 0) : undefined;
}

export function decodeIpv4List(raw: Uint8Array): string[] | undefined {
  if (raw.length === 0 || raw.length % 4 !== 0) return undefined;
  const addresses: string[] = [];
  for (let offset = 0; offset < raw.length; offset += 4) addresses.push(formatIpv4(raw, offset));
  return addresses;
}

// ---------------------------------------------------------------- integers

/** The value, if it is an integer from 0 to max; a RangeError naming it otherwise. */
export function checkUnsigned(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} ${value} is not an integer from 0 to ${max}`);
  }
  return value;
}

/** Option 53 and other single-byte values. */
export function encodeUint8(value: number): Uint8Array {
  checkUnsigned('value', value, 0xff);
  return Uint8Array.of(value);
}

/** Option 57. */
export function encodeUint16(value: number): Uint8Array {
  checkUnsigned('value', value, 0xffff);
  return Uint8Array.of(value >>> 8, value & 0xff);
}

/** Options 51, 58, 59: seconds; 0xffffffff means infinite. */
export function encodeUint32(value: number): Uint8Array {
  checkUnsigned('value', value, 0xffffffff);
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

export function decodeUint8(raw: Uint8Array): number | undefined {
  return raw.length === 1 ? raw[0] : undefined;
}

export function decodeUint16(raw: Uint8Array): number | undefined {
  return raw.length === 2 ? (raw[0]! << 8) | raw[1]! : undefined;
}

export function decodeUint32(raw: Uint8Array): number | undefined {
  return raw.length === 4 ? ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0 : undefined;
}

// ---------------------------------------------------------------- text

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** Options 12, 15, 60, 66, 67, 252: NVT ASCII in the RFCs; UTF-8 here so ASCII passes unchanged. */
export function encodeText(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Text up to the first NUL (some clients NUL-terminate strings); invalid UTF-8 becomes U+FFFD, never an error. */
export function decodeText(raw: Uint8Array): string {
  const nul = raw.indexOf(0);
  const text = nul < 0 ? raw : raw.subarray(0, nul);
  return text.length === 0 ? '' : utf8Decoder.decode(text);
}

// ---------------------------------------------------------------- sub-options (43, 82, 175)

/**
 * Sub-options as code/length/value. 'tlv' is RFC 3046's plain form (82); 'dhcp' also treats 0 as pad and 255
 * as end, as PXE (43) and iPXE (175) blocks do. A repeated code is concatenated, as in RFC 3396.
 * Undefined when a sub-option runs past the end.
 */
export function decodeSubOptions(raw: Uint8Array, form: 'tlv' | 'dhcp'): Map<number, Uint8Array> | undefined {
  const subOptions = new Map<number, Uint8Array>();
  let offset = 0;
  while (offset < raw.length) {
    const code = raw[offset]!;
    if (form === 'dhcp' && code === 0) {
      offset++;
      continue;
    }
    if (form === 'dhcp' && code === 255) break;
    if (offset + 2 > raw.length) return undefined;
    const end = offset + 2 + raw[offset + 1]!;
    if (end > raw.length) return undefined;
    appendValue(subOptions, code, raw.subarray(offset + 2, end));
    offset = end;
  }
  return subOptions;
}

/** Adds a value under code, concatenating with an earlier instance (RFC 3396); allocates only then. */
export function appendValue(values: Map<number, Uint8Array>, code: number, value: Uint8Array): void {
  const earlier = values.get(code);
  if (earlier === undefined) {
    values.set(code, value);
    return;
  }
  const joined = new Uint8Array(earlier.length + value.length);
  joined.set(earlier, 0);
  joined.set(value, earlier.length);
  values.set(code, joined);
}

/** Code/length/value sub-options in the given order, for 82 and 175; each value at most 255 bytes. */
export function encodeSubOptions(subOptions: Iterable<readonly [number, Uint8Array]>): Uint8Array {
  const entries = [...subOptions];
  let length = 0;
  for (const [code, value] of entries) {
    checkUnsigned('sub-option code', code, 0xff);
    if (value.length > 255) throw new RangeError(`sub-option ${code} is ${value.length} bytes, at most 255 fit`);
    length += 2 + value.length;
  }
  const encoded = new Uint8Array(length);
  let offset = 0;
  for (const [code, value] of entries) {
    encoded[offset] = code;
    encoded[offset + 1] = value.length;
    encoded.set(value, offset + 2);
    offset += 2 + value.length;
  }
  return encoded;
}

/** Option 43 for PXE clients: the sub-options followed by PXE's end tag 255. */
export function encodePxeVendorOptions(subOptions: Iterable<readonly [number, Uint8Array]>): Uint8Array {
  const body = encodeSubOptions(subOptions);
  const encoded = new Uint8Array(body.length + 1);
  encoded.set(body, 0);
  encoded[body.length] = PxeVendorOption.end;
  return encoded;
}

// ---------------------------------------------------------------- client options (77, 82, 93, 94, 97)

/**
 * Option 77. RFC 3004 makes it a list of length-prefixed classes; iPXE sends the bare string "iPXE". A value
 * is read as RFC 3004 only when its length prefixes tile it exactly; otherwise it is one plain string.
 */
export function decodeUserClass(raw: Uint8Array): string[] | undefined {
  if (raw.length === 0) return undefined;
  let offset = 0;
  while (offset < raw.length && raw[offset]! > 0) offset += 1 + raw[offset]!;
  if (offset !== raw.length) return [decodeText(raw)];
  const classes: string[] = [];
  for (offset = 0; offset < raw.length; offset += 1 + raw[offset]!) {
    classes.push(decodeText(raw.subarray(offset + 1, offset + 1 + raw[offset]!)));
  }
  return classes;
}

/** Option 93 (RFC 4578 2.1): one or more 16-bit architecture types. */
export function decodeClientArchitectures(raw: Uint8Array): number[] | undefined {
  if (raw.length === 0 || raw.length % 2 !== 0) return undefined;
  const architectures: number[] = [];
  for (let offset = 0; offset < raw.length; offset += 2) architectures.push((raw[offset]! << 8) | raw[offset + 1]!);
  return architectures;
}

/** Option 94 (RFC 4578 2.2): interface type (1 = UNDI) and its version. */
export interface ClientNdi {
  readonly type: number;
  readonly major: number;
  readonly minor: number;
}

export function decodeClientNdi(raw: Uint8Array): ClientNdi | undefined {
  return raw.length === 3 ? { type: raw[0]!, major: raw[1]!, minor: raw[2]! } : undefined;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes with a separator: MAC addresses and UUIDs. */
export function formatHex(bytes: Uint8Array, start: number, end: number, separator: string): string {
  let text = HEX[bytes[start]!]!;
  for (let i = start + 1; i < end; i++) text += separator + HEX[bytes[i]!]!;
  return text;
}

/**
 * Option 97 (RFC 4578 2.3): type 0 and a 16-byte UUID, shown as 8-4-4-4-12 hex in wire order. Firmware
 * disagrees on the byte order of the first three fields, so match it against inventory in both orders.
 */
export function decodeClientUuid(raw: Uint8Array): string | undefined {
  if (raw.length !== 17 || raw[0] !== 0) return undefined;
  return [
    formatHex(raw, 1, 5, ''),
    formatHex(raw, 5, 7, ''),
    formatHex(raw, 7, 9, ''),
    formatHex(raw, 9, 11, ''),
    formatHex(raw, 11, 17, ''),
  ].join('-');
}

/** Option 82 (RFC 3046): echo `raw` unchanged in the reply; circuit and remote ids identify the port. */
export interface RelayAgentInfo {
  readonly raw: Uint8Array;
  readonly subOptions: ReadonlyMap<number, Uint8Array>;
  readonly circuitId: Uint8Array | undefined;
  readonly remoteId: Uint8Array | undefined;
}

export function decodeRelayAgentInfo(raw: Uint8Array): RelayAgentInfo | undefined {
  const subOptions = decodeSubOptions(raw, 'tlv');
  if (subOptions === undefined || subOptions.size === 0) return undefined;
  return {
    raw,
    subOptions,
    circuitId: subOptions.get(RelayAgentSubOption.circuitId),
    remoteId: subOptions.get(RelayAgentSubOption.remoteId),
  };
}

// ---------------------------------------------------------------- option 119 (RFC 3397)

/**
 * Domain search list in DNS wire format, with RFC 1035 compression pointers to earlier suffixes; pointers
 * count from the start of the option value (the concatenated value when the option is split).
 */
export function encodeDomainSearch(domains: readonly string[]): Uint8Array {
  const bytes: number[] = [];
  const suffixOffsets = new Map<string, number>();
  for (const domain of domains) {
    const labels = splitDomain(domain);
    let pointer: number | undefined;
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.');
      pointer = suffixOffsets.get(suffix);
      if (pointer !== undefined) break;
      if (bytes.length < 0x4000) suffixOffsets.set(suffix, bytes.length);
      const label = labels[i]!;
      bytes.push(label.length);
      for (let c = 0; c < label.length; c++) bytes.push(label.charCodeAt(c));
    }
    if (pointer === undefined) bytes.push(0);
    else bytes.push(0xc0 | (pointer >> 8), pointer & 0xff);
  }
  return Uint8Array.from(bytes);
}

/** Labels of an ASCII domain name ('example.com.' and 'example.com' alike; '' or '.' is the root). */
function splitDomain(domain: string): string[] {
  const name = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (name === '') return [];
  // Wire length: one length byte per label plus its characters plus the root's zero byte.
  if (name.length + 2 > 255) throw new RangeError(`domain name too long: ${domain}`);
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0 || label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) {
      throw new RangeError(`not a domain name label: ${JSON.stringify(label)} in ${JSON.stringify(domain)}`);
    }
  }
  return labels;
}

/** Names of option 119, without trailing dots; undefined when malformed (bad label, pointer loop or overrun). */
export function decodeDomainSearch(raw: Uint8Array): string[] | undefined {
  const domains: string[] = [];
  let offset = 0;
  while (offset < raw.length) {
    const labels: string[] = [];
    let cursor = offset;
    let next = -1; // where the following name starts, fixed at the first pointer
    let jumps = 0;
    for (;;) {
      if (cursor >= raw.length) return undefined;
      const length = raw[cursor]!;
      if (length === 0) {
        if (next < 0) next = cursor + 1;
        break;
      }
      if ((length & 0xc0) === 0xc0) {
        if (cursor + 1 >= raw.length) return undefined;
        const target = ((length & 0x3f) << 8) | raw[cursor + 1]!;
        // Pointers go back to earlier data; the jump bound stops loops among them.
        if (target >= cursor || ++jumps > raw.length) return undefined;
        if (next < 0) next = cursor + 2;
        cursor = target;
        continue;
      }
      if ((length & 0xc0) !== 0 || cursor + 1 + length > raw.length) return undefined;
      labels.push(decodeText(raw.subarray(cursor + 1, cursor + 1 + length)));
      cursor += 1 + length;
    }
    domains.push(labels.join('.'));
    offset = next;
  }
  return domains;
}

// ---------------------------------------------------------------- option 121 (RFC 3442)

export interface ClasslessRoute {
  readonly destination: string;
  readonly prefixLength: number;
  readonly router: string;
}

/** Each route as its prefix length, the significant octets of the destination, then the router. */
export function encodeClasslessRoutes(routes: readonly ClasslessRoute[]): Uint8Array {
  let length = 0;
  for (const route of routes) {
    checkUnsigned('prefix length', route.prefixLength, 32);
    length += 1 + Math.ceil(route.prefixLength / 8) + 4;
  }
  const encoded = new Uint8Array(length);
  const destination = new Uint8Array(4);
  let offset = 0;
  for (const { destination: text, prefixLength, router } of routes) {
    writeIpv4(destination, 0, text);
    const significant = Math.ceil(prefixLength / 8);
    for (let bit = prefixLength; bit < 32; bit++) {
      if ((destination[bit >> 3]! >> (7 - (bit & 7))) & 1) {
        throw new RangeError(`${text}/${prefixLength} has host bits set`);
      }
    }
    encoded[offset++] = prefixLength;
    encoded.set(destination.subarray(0, significant), offset);
    offset += significant;
    writeIpv4(encoded, offset, router);
    offset += 4;
  }
  return encoded;
}

export function decodeClasslessRoutes(raw: Uint8Array): ClasslessRoute[] | undefined {
  const routes: ClasslessRoute[] = [];
  const destination = new Uint8Array(4);
  let offset = 0;
  while (offset < raw.length) {
    const prefixLength = raw[offset]!;
    const significant = Math.ceil(prefixLength / 8);
    if (prefixLength > 32 || offset + 1 + significant + 4 > raw.length) return undefined;
    destination.fill(0);
    destination.set(raw.subarray(offset + 1, offset + 1 + significant), 0);
    offset += 1 + significant;
    routes.push({ destination: formatIpv4(destination, 0), prefixLength, router: formatIpv4(raw, offset) });
    offset += 4;
  }
  return routes;
}
