/**
 * DHCPv4 / BOOTP message codec (RFC 2131 section 2, RFC 951). Pure: bytes in, a typed packet out, and back.
 * Decoding gathers the options of the options field, then of `file` and `sname` when option 52 says so,
 * concatenating repeated instances (RFC 3396). Encoding builds a reply in the order picky firmware wants.
 */

import {
  appendValue,
  checkUnsigned,
  decodeClientArchitectures,
  decodeClientNdi,
  decodeClientUuid,
  decodeIpv4,
  decodeRelayAgentInfo,
  decodeSubOptions,
  decodeText,
  decodeUint16,
  decodeUint32,
  decodeUint8,
  decodeUserClass,
  DhcpOption,
  encodeText,
  formatHex,
  formatIpv4,
  OverloadField,
  writeIpv4,
  type ClientNdi,
  type RelayAgentInfo,
} from './options.js';

export const BootpOp = { request: 1, reply: 2 } as const;

const MAGIC_COOKIE = 0x63825363;
const OFFSET_SNAME = 44;
const OFFSET_FILE = 108;
const OFFSET_COOKIE = 236;
const OFFSET_OPTIONS = 240;
const SNAME_LENGTH = 64;
const FILE_LENGTH = 128;
const BROADCAST_FLAG = 0x8000;

/** Replies are padded to BOOTP's 300 bytes: some clients (old Linux kernels among them) drop shorter ones. */
export const MIN_REPLY_LENGTH = 300;
/** The smallest maximum message size (option 57) a client may announce, and the size every client accepts. */
export const MIN_MAX_MESSAGE_SIZE = 576;
/** Option 57 counts the IP and UDP headers (as ISC dhcpd reads it); the DHCP message gets the rest. */
const IP_UDP_HEADERS = 28;

/** The only error decodeDhcpPacket throws; `reason` is short, for logs and counters. */
export class MalformedPacketError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(`malformed DHCP packet: ${reason}`);
    this.name = 'MalformedPacketError';
    this.reason = reason;
  }
}

/** Thrown by encodeDhcpPacket when the options it may not drop do not fit the client's maximum message size. */
export class ReplyTooLargeError extends Error {
  constructor(size: number, limit: number) {
    super(`DHCP reply needs ${size} bytes, the client accepts ${limit}`);
    this.name = 'ReplyTooLargeError';
  }
}

export interface DhcpPacketFields {
  readonly op: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  readonly ciaddr: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly giaddr: string;
  /** The MAC, lower-case and colon-separated, when htype is Ethernet (1) and hlen 6; otherwise null. */
  readonly chaddr: string | null;
  /** The whole 16-byte chaddr field, to echo in replies. */
  readonly chaddrBytes: Uint8Array;
  /** Empty when option 52 gives the field to options. */
  readonly sname: string;
  readonly file: string;
  /** Raw option values by code, repeated instances concatenated; option 52 itself is kept. */
  readonly options: ReadonlyMap<number, Uint8Array>;
}

// The fields are declared once, in DhcpPacketFields; the class below adds the accessors.
export interface DhcpPacket extends DhcpPacketFields {}

/**
 * A decoded message. The accessors read `options` on each call and return undefined when the option is absent
 * or its value does not fit the option's format; they never throw.
 */
export class DhcpPacket {
  constructor(fields: DhcpPacketFields) {
    Object.assign(this, fields);
  }

  get broadcast(): boolean {
    return (this.flags & BROADCAST_FLAG) !== 0;
  }

  /** Option 53; validated by decodeDhcpPacket, so present means one byte. Absent in plain BOOTP. */
  get messageType(): number | undefined {
    return this.read(DhcpOption.messageType, decodeUint8);
  }

  get requestedAddress(): string | undefined {
    return this.read(DhcpOption.requestedAddress, decodeIpv4);
  }

  get serverId(): string | undefined {
    return this.read(DhcpOption.serverId, decodeIpv4);
  }

  /** Option 55: the requested option codes, in the client's order. */
  get parameterRequestList(): Uint8Array | undefined {
    const raw = this.options.get(DhcpOption.parameterRequestList);
    return raw !== undefined && raw.length > 0 ? raw : undefined;
  }

  get maxMessageSize(): number | undefined {
    return this.read(DhcpOption.maxMessageSize, decodeUint16);
  }

  get leaseTime(): number | undefined {
    return this.read(DhcpOption.leaseTime, decodeUint32);
  }

  get hostName(): string | undefined {
    return this.read(DhcpOption.hostName, decodeText);
  }

  /** Option 60, e.g. `PXEClient:Arch:00007:UNDI:003016` or `HTTPClient:...`. */
  get vendorClass(): string | undefined {
    return this.read(DhcpOption.vendorClass, decodeText);
  }

  /** Option 61, raw (type byte first). */
  get clientId(): Uint8Array | undefined {
    const raw = this.options.get(DhcpOption.clientId);
    return raw !== undefined && raw.length > 0 ? raw : undefined;
  }

  /** Option 77 as a list of classes, from RFC 3004 form or iPXE's bare string. */
  get userClasses(): string[] | undefined {
    return this.read(DhcpOption.userClass, decodeUserClass);
  }

  /** Option 93. */
  get clientArchitectures(): number[] | undefined {
    return this.read(DhcpOption.clientArchitecture, decodeClientArchitectures);
  }

  /** Option 94. */
  get clientNdi(): ClientNdi | undefined {
    return this.read(DhcpOption.clientNdi, decodeClientNdi);
  }

  /** Option 97 as a UUID string; echo `options.get(97)` itself in replies. */
  get clientUuid(): string | undefined {
    return this.read(DhcpOption.clientUuid, decodeClientUuid);
  }

  /** Option 82. */
  get relayAgentInfo(): RelayAgentInfo | undefined {
    return this.read(DhcpOption.relayAgentInfo, decodeRelayAgentInfo);
  }

  /** Option 175 is sent only by iPXE: its presence tells the chainload loop apart. */
  get hasIpxeOptions(): boolean {
    return this.options.has(DhcpOption.ipxeEncapsulated);
  }

  /** Option 175's sub-options (features such as 0x13 HTTP, version 0xeb, bus id 0xb1). */
  get ipxeOptions(): Map<number, Uint8Array> | undefined {
    const raw = this.options.get(DhcpOption.ipxeEncapsulated);
    return raw === undefined ? undefined : decodeSubOptions(raw, 'dhcp');
  }

  private read<T>(code: number, decode: (raw: Uint8Array) => T | undefined): T | undefined {
    const raw = this.options.get(code);
    return raw === undefined ? undefined : decode(raw);
  }
}

/** Reads a BOOTP/DHCP message. The packet keeps views into its own copy of buf, so buf may be reused. */
export function decodeDhcpPacket(buf: Uint8Array): DhcpPacket {
  if (buf.length < OFFSET_OPTIONS) throw new MalformedPacketError(`too short (${buf.length} bytes)`);
  const bytes = allocateBytes(buf.length);
  bytes.set(buf); // one block copy, so the packet owns its bytes
  const op = bytes[0]!;
  if (op !== BootpOp.request && op !== BootpOp.reply) throw new MalformedPacketError(`bad op ${op}`);
  const htype = bytes[1]!;
  const hlen = bytes[2]!;
  if (hlen > 16) throw new MalformedPacketError(`bad hlen ${hlen}`);
  if (readUint32(bytes, OFFSET_COOKIE) !== MAGIC_COOKIE) throw new MalformedPacketError('bad magic cookie');

  const options = new Map<number, Uint8Array>();
  readOptionArea(bytes, OFFSET_OPTIONS, bytes.length, options, 'options');
  const overload = readOverload(options);
  if (overload & OverloadField.file) readOptionArea(bytes, OFFSET_FILE, OFFSET_COOKIE, options, 'file');
  if (overload & OverloadField.sname) readOptionArea(bytes, OFFSET_SNAME, OFFSET_FILE, options, 'sname');
  const messageType = options.get(DhcpOption.messageType);
  if (messageType !== undefined && messageType.length !== 1) {
    throw new MalformedPacketError(`option 53 is ${messageType.length} bytes, not 1`);
  }

  return new DhcpPacket({
    op,
    htype,
    hlen,
    hops: bytes[3]!,
    xid: readUint32(bytes, 4),
    secs: (bytes[8]! << 8) | bytes[9]!,
    flags: (bytes[10]! << 8) | bytes[11]!,
    ciaddr: formatIpv4(bytes, 12),
    yiaddr: formatIpv4(bytes, 16),
    siaddr: formatIpv4(bytes, 20),
    giaddr: formatIpv4(bytes, 24),
    chaddr: htype === 1 && hlen === 6 ? formatHex(bytes, 28, 34, ':') : null,
    chaddrBytes: bytes.subarray(28, OFFSET_SNAME),
    sname: overload & OverloadField.sname ? '' : textField(bytes, OFFSET_SNAME, OFFSET_FILE),
    file: overload & OverloadField.file ? '' : textField(bytes, OFFSET_FILE, OFFSET_COOKIE),
    options,
  });
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** A NUL-terminated fixed field; most are empty, and those need no view. */
function textField(bytes: Uint8Array, start: number, end: number): string {
  return bytes[start] === 0 ? '' : decodeText(bytes.subarray(start, end));
}

const SLAB_BYTES = 64 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * Zeroed bytes for a packet, carved from a shared slab: one backing store for hundreds of packets, where one each
 * cost an allocation, a sweep and often a page fault. A slab is never handed out twice, so packets never alias;
 * it is freed when the last packet in it is.
 */
function allocateBytes(size: number): Uint8Array {
  if (size > SLAB_BYTES / 16) return new Uint8Array(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = new Uint8Array(slab, slabUsed, size);
  slabUsed += (size + 7) & ~7;
  return bytes;
}

/** Options from start up to the End option or end; a missing End is tolerated, an overrun is not. */
function readOptionArea(
  bytes: Uint8Array,
  start: number,
  end: number,
  options: Map<number, Uint8Array>,
  area: 'options' | 'file' | 'sname',
): void {
  let offset = start;
  while (offset < end) {
    const code = bytes[offset]!;
    if (code === DhcpOption.pad) {
      offset++;
      continue;
    }
    if (code === DhcpOption.end) return;
    if (offset + 1 >= end) throw new MalformedPacketError(`option ${code} has no length in ${area}`);
    const valueEnd = offset + 2 + bytes[offset + 1]!;
    if (valueEnd > end) throw new MalformedPacketError(`option ${code} runs past the end of ${area}`);
    if (code === DhcpOption.overload && area !== 'options') throw new MalformedPacketError(`option 52 inside ${area}`);
    appendValue(options, code, bytes.subarray(offset + 2, valueEnd));
    offset = valueEnd;
  }
}

function readOverload(options: ReadonlyMap<number, Uint8Array>): number {
  const raw = options.get(DhcpOption.overload);
  if (raw === undefined) return 0;
  const value = raw.length === 1 ? raw[0]! : 0;
  if (value < OverloadField.file || value > OverloadField.both) throw new MalformedPacketError('bad option 52');
  return value;
}

/**
 * What encodeDhcpPacket needs; a decoded DhcpPacket fits too, which makes round trips easy. `options` are raw
 * values by code (a Map, or pairs with unique codes); `maxMessageSize` is the client's option 57.
 */
export interface DhcpReply {
  readonly op?: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops?: number;
  readonly xid: number;
  readonly secs?: number;
  readonly flags?: number;
  readonly ciaddr?: string;
  readonly yiaddr?: string;
  readonly siaddr?: string;
  readonly giaddr?: string;
  readonly chaddrBytes: Uint8Array;
  readonly sname?: string;
  readonly file?: string;
  readonly options: Iterable<readonly [number, Uint8Array]>;
  readonly maxMessageSize?: number | undefined;
}

/** Never dropped for size: without them the reply is useless or unroutable back through the relay. */
export const PROTECTED_OPTIONS: ReadonlySet<number> = new Set([
  DhcpOption.messageType,
  DhcpOption.serverId,
  DhcpOption.leaseTime,
  DhcpOption.subnetMask,
  DhcpOption.routers,
  DhcpOption.relayAgentInfo,
]);

/**
 * When a reply is too big, options not listed here go first (last given, first dropped), then these from the
 * left: comfort before addressing, and the boot options a PXE client needs last.
 */
export const DROP_ORDER: readonly number[] = [
  DhcpOption.wpad,
  DhcpOption.ntpServers,
  DhcpOption.domainSearch,
  DhcpOption.domainName,
  DhcpOption.hostName,
  DhcpOption.broadcastAddress,
  DhcpOption.dnsServers,
  DhcpOption.classlessRoutes,
  DhcpOption.renewalTime,
  DhcpOption.rebindingTime,
  DhcpOption.tftpServerName,
  DhcpOption.vendorSpecific,
  DhcpOption.clientUuid,
  DhcpOption.vendorClass,
  DhcpOption.bootfileName,
];

type OptionEntry = readonly [number, Uint8Array];

/**
 * Builds a message: fixed header, magic cookie, options (53 first, 54 second, 82 last, others in the given
 * order, long ones split), End, zero padding to 300 bytes. Options that do not fit the client's maximum
 * message size are dropped in DROP_ORDER. Throws RangeError for fields that cannot be encoded.
 */
export function encodeDhcpPacket(reply: DhcpReply): Uint8Array {
  let entries = orderOptions(reply.options);
  const announced = reply.maxMessageSize ?? MIN_MAX_MESSAGE_SIZE;
  const accepted = Number.isFinite(announced) ? Math.max(MIN_MAX_MESSAGE_SIZE, announced) : MIN_MAX_MESSAGE_SIZE;
  const limit = accepted - IP_UDP_HEADERS;
  let size = OFFSET_OPTIONS + optionAreaLength(entries);
  if (size > limit) {
    entries = dropToFit(entries, size - limit);
    size = OFFSET_OPTIONS + optionAreaLength(entries);
    if (size > limit) throw new ReplyTooLargeError(size, limit);
  }
  const bytes = allocateBytes(Math.max(size, MIN_REPLY_LENGTH));
  writeHeader(bytes, reply);
  writeOptions(bytes, OFFSET_OPTIONS, entries);
  return bytes;
}

/** The options field alone, as encodeDhcpPacket lays it out (ordered, split, End-terminated), with no size limit. */
export function encodeOptions(options: Iterable<OptionEntry>): Uint8Array {
  const entries = orderOptions(options);
  const bytes = new Uint8Array(optionAreaLength(entries));
  writeOptions(bytes, 0, entries);
  return bytes;
}

/** The stamp of the last orderOptions call that saw each option code: duplicates without a Set per reply. */
const seenStamps = new Uint32Array(256);
let stamp = 0;

/** 53, 54, the rest as given, 82. Pad, End and 52 are the codec's own business and never copied. */
function orderOptions(options: Iterable<OptionEntry>): OptionEntry[] {
  if (++stamp === 0xffffffff) {
    seenStamps.fill(0);
    stamp = 1;
  }
  const ordered: OptionEntry[] = [];
  let messageType: OptionEntry | undefined;
  let serverId: OptionEntry | undefined;
  let relayAgentInfo: OptionEntry | undefined;
  for (const entry of options) {
    const code = entry[0];
    checkUnsigned('option code', code, 0xff);
    if (seenStamps[code] === stamp) throw new RangeError(`option ${code} given twice`);
    seenStamps[code] = stamp;
    if (code === DhcpOption.pad || code === DhcpOption.end || code === DhcpOption.overload) continue;
    if (code === DhcpOption.messageType) messageType = entry;
    else if (code === DhcpOption.serverId) serverId = entry;
    else if (code === DhcpOption.relayAgentInfo) relayAgentInfo = entry;
    else ordered.push(entry);
  }
  if (serverId !== undefined) ordered.unshift(serverId);
  if (messageType !== undefined) ordered.unshift(messageType);
  if (relayAgentInfo !== undefined) ordered.push(relayAgentInfo);
  return ordered;
}

/** Bytes an option takes on the wire: one code/length pair per 255-byte piece (RFC 3396), at least one. */
function encodedLength(value: Uint8Array): number {
  return value.length <= 255 ? value.length + 2 : value.length + 2 * Math.ceil(value.length / 255);
}

/** All options plus the End option. */
function optionAreaLength(entries: readonly OptionEntry[]): number {
  let length = 1;
  for (const entry of entries) length += encodedLength(entry[1]);
  return length;
}

function dropToFit(entries: readonly OptionEntry[], excess: number): OptionEntry[] {
  const rank = (code: number): number => (PROTECTED_OPTIONS.has(code) ? Infinity : DROP_ORDER.indexOf(code));
  const candidates = entries
    .map((entry, position) => ({ entry, position, rank: rank(entry[0]) }))
    .filter((candidate) => candidate.rank !== Infinity)
    .sort((a, b) => a.rank - b.rank || b.position - a.position);
  const dropped = new Set<OptionEntry>();
  for (const { entry } of candidates) {
    if (excess <= 0) break;
    dropped.add(entry);
    excess -= encodedLength(entry[1]);
  }
  return entries.filter((entry) => !dropped.has(entry));
}

function writeOptions(bytes: Uint8Array, start: number, entries: readonly OptionEntry[]): void {
  let offset = start;
  for (const [code, value] of entries) {
    if (value.length <= 255) {
      bytes[offset] = code;
      bytes[offset + 1] = value.length;
      bytes.set(value, offset + 2);
      offset += 2 + value.length;
      continue;
    }
    for (let piece = 0; piece < value.length; piece += 255) {
      const length = Math.min(255, value.length - piece);
      bytes[offset] = code;
      bytes[offset + 1] = length;
      bytes.set(value.subarray(piece, piece + length), offset + 2);
      offset += 2 + length;
    }
  }
  bytes[offset] = DhcpOption.end;
}

/** Writes into zeroed bytes, so zero fields (and the all-zero address) are left as they are. */
function writeHeader(bytes: Uint8Array, reply: DhcpReply): void {
  bytes[0] = checkUnsigned('op', reply.op ?? BootpOp.reply, 0xff);
  bytes[1] = checkUnsigned('htype', reply.htype, 0xff);
  bytes[2] = checkUnsigned('hlen', reply.hlen, 16);
  bytes[3] = checkUnsigned('hops', reply.hops ?? 0, 0xff);
  writeUint32(bytes, 4, checkUnsigned('xid', reply.xid, 0xffffffff));
  writeUint16(bytes, 8, checkUnsigned('secs', reply.secs ?? 0, 0xffff));
  writeUint16(bytes, 10, checkUnsigned('flags', reply.flags ?? 0, 0xffff));
  writeAddress(bytes, 12, reply.ciaddr);
  writeAddress(bytes, 16, reply.yiaddr);
  writeAddress(bytes, 20, reply.siaddr);
  writeAddress(bytes, 24, reply.giaddr);
  if (reply.chaddrBytes.length > 16) throw new RangeError(`chaddr is ${reply.chaddrBytes.length} bytes, at most 16`);
  bytes.set(reply.chaddrBytes, 28);
  writeTextField(bytes, OFFSET_SNAME, SNAME_LENGTH, 'sname', reply.sname ?? '');
  writeTextField(bytes, OFFSET_FILE, FILE_LENGTH, 'file', reply.file ?? '');
  writeUint32(bytes, OFFSET_COOKIE, MAGIC_COOKIE);
}

function writeUint16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value;
}

function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

function writeAddress(bytes: Uint8Array, offset: number, address: string | undefined): void {
  if (address !== undefined && address !== '0.0.0.0') writeIpv4(bytes, offset, address);
}

/** NUL-terminated, so at most size - 1 bytes; longer boot file URLs belong in option 67. */
function writeTextField(bytes: Uint8Array, offset: number, size: number, name: string, text: string): void {
  // Printable ASCII, the common case, is its own encoding.
  let ascii = text.length < size;
  for (let i = 0; ascii && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c >= 0x80) ascii = false;
    else bytes[offset + i] = c;
  }
  if (ascii) return;
  const encoded = encodeText(text);
  if (encoded.length >= size || encoded.includes(0)) {
    throw new RangeError(`${name} ${JSON.stringify(text)} does not fit ${size - 1} bytes without NUL`);
  }
  bytes.set(encoded, offset);
}
