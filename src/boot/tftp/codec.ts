/**
 * TFTP wire format: RFC 1350 (RRQ, WRQ, DATA, ACK, ERROR) and the RFC 2347 option extension (options appended
 * to requests, OACK). Pure: bytes in, typed packets out, and back. What the options mean is negotiated in
 * session.ts; this file only carries name/value pairs.
 */

export const TftpOpcode = {
  rrq: 1,
  wrq: 2,
  data: 3,
  ack: 4,
  error: 5,
  oack: 6,
} as const;

/** ERROR packet codes: 0-7 from RFC 1350, 8 from RFC 2347. Other values still decode (the field is 16 bits). */
export const TftpErrorCode = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTransferId: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionNegotiationFailed: 8,
} as const;

/** The largest DATA payload any negotiation can produce (RFC 2348's blksize ceiling). */
export const MAX_DATA_LENGTH = 65464;
export const MAX_BLOCK_NUMBER = 0xffff;

/** "mail" (RFC 1350) is obsolete and refused, like tftp-hpa and iPXE do. */
export type TftpMode = 'netascii' | 'octet';

/** One option as sent: the name keeps its case (matching is case-insensitive), the value is the raw string. */
export interface TftpOption {
  readonly name: string;
  readonly value: string;
}

export interface TftpRequest {
  readonly kind: 'rrq' | 'wrq';
  readonly filename: string;
  readonly mode: TftpMode;
  readonly options: readonly TftpOption[];
}

export interface TftpData {
  readonly kind: 'data';
  readonly block: number;
  readonly data: Uint8Array;
}

export interface TftpAck {
  readonly kind: 'ack';
  readonly block: number;
}

export interface TftpError {
  readonly kind: 'error';
  readonly code: number;
  readonly message: string;
}

export interface TftpOack {
  readonly kind: 'oack';
  readonly options: readonly TftpOption[];
}

export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpError | TftpOack;

/** The only error decodeTftpPacket throws; the server answers it with ERROR 4 (illegal operation) or drops it. */
export class MalformedTftpPacketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedTftpPacketError';
  }
}

// Names, modes and options must be exact UTF-8 so they re-encode byte for byte; error text from a peer is
// only shown to people, so it is decoded leniently rather than losing the error code.
const strictText = new TextDecoder('utf-8', { fatal: true });
const lenientText = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

/** Reads NUL-terminated strings from a packet, throwing MalformedTftpPacketError past the end. */
class StringReader {
  private position: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
  ) {
    this.position = start;
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  /** True when nothing but NUL padding is left (some PXE ROMs pad their requests). */
  onlyPaddingLeft(): boolean {
    for (let i = this.position; i < this.bytes.length; i++) if (this.bytes[i] !== 0) return false;
    return true;
  }

  read(what: string, lenient = false): string {
    const end = this.bytes.indexOf(0, this.position);
    if (end < 0) throw new MalformedTftpPacketError(`${what} is not NUL-terminated`);
    const raw = this.bytes.subarray(this.position, end);
    this.position = end + 1;
    if (lenient) return lenientText.decode(raw);
    try {
      return strictText.decode(raw);
    } catch {
      throw new MalformedTftpPacketError(`${what} is not valid UTF-8`);
    }
  }
}

function readOptions(reader: StringReader): TftpOption[] {
  const options: TftpOption[] = [];
  const seen = new Set<string>();
  while (reader.remaining > 0 && !reader.onlyPaddingLeft()) {
    const name = reader.read('option name');
    if (name === '') throw new MalformedTftpPacketError('empty option name');
    const value = reader.read(`value of option ${name}`);
    const key = name.toLowerCase();
    // A repeated option is ambiguous (which value wins?), so the whole packet is refused.
    if (seen.has(key)) throw new MalformedTftpPacketError(`option ${name} appears twice`);
    seen.add(key);
    options.push({ name, value });
  }
  return options;
}

function readMode(reader: StringReader): TftpMode {
  const mode = reader.read('mode').toLowerCase();
  if (mode !== 'netascii' && mode !== 'octet') throw new MalformedTftpPacketError(`unsupported mode "${mode}"`);
  return mode;
}

function readUint16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

export function decodeTftpPacket(bytes: Uint8Array): TftpPacket {
  if (bytes.length < 2) throw new MalformedTftpPacketError('packet shorter than an opcode');
  const opcode = readUint16(bytes, 0);
  switch (opcode) {
    case TftpOpcode.rrq:
    case TftpOpcode.wrq: {
      const reader = new StringReader(bytes, 2);
      const filename = reader.read('file name');
      const mode = readMode(reader);
      return { kind: opcode === TftpOpcode.rrq ? 'rrq' : 'wrq', filename, mode, options: readOptions(reader) };
    }
    case TftpOpcode.data: {
      if (bytes.length < 4) throw new MalformedTftpPacketError('DATA shorter than its header');
      if (bytes.length - 4 > MAX_DATA_LENGTH) throw new MalformedTftpPacketError('DATA longer than any blksize');
      // A plain copy: the caller may reuse its receive buffer, and a Buffer would compare unlike a Uint8Array.
      return { kind: 'data', block: readUint16(bytes, 2), data: new Uint8Array(bytes.subarray(4)) };
    }
    case TftpOpcode.ack: {
      if (bytes.length !== 4) throw new MalformedTftpPacketError(`ACK of ${bytes.length} bytes, expected 4`);
      return { kind: 'ack', block: readUint16(bytes, 2) };
    }
    case TftpOpcode.error: {
      if (bytes.length < 5) throw new MalformedTftpPacketError('ERROR shorter than its header');
      const reader = new StringReader(bytes, 4);
      const message = reader.read('error message', true);
      if (reader.remaining > 0) throw new MalformedTftpPacketError('bytes after the error message');
      return { kind: 'error', code: readUint16(bytes, 2), message };
    }
    case TftpOpcode.oack:
      return { kind: 'oack', options: readOptions(new StringReader(bytes, 2)) };
    default:
      throw new MalformedTftpPacketError(`unknown opcode ${opcode}`);
  }
}

function checkUint16(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`${what} ${value} is not a 16-bit unsigned integer`);
  }
}

function encodeString(text: string): Uint8Array {
  if (text.includes('\0')) throw new RangeError(`${JSON.stringify(text)} contains a NUL character`);
  return textEncoder.encode(text);
}

/** Builds a packet from its parts; each string part is followed by a NUL. */
function assemble(opcode: number, parts: readonly (Uint8Array | number | string)[]): Uint8Array {
  const chunks: Uint8Array[] = [Uint8Array.of(opcode >> 8, opcode & 0xff)];
  for (const part of parts) {
    if (typeof part === 'number') chunks.push(Uint8Array.of(part >> 8, part & 0xff));
    else if (typeof part === 'string') chunks.push(encodeString(part), Uint8Array.of(0));
    else chunks.push(part);
  }
  return Buffer.concat(chunks);
}

function optionStrings(options: readonly TftpOption[]): string[] {
  const seen = new Set<string>();
  return options.flatMap(({ name, value }) => {
    if (name === '') throw new RangeError('empty option name');
    const key = name.toLowerCase();
    if (seen.has(key)) throw new RangeError(`option ${name} given twice`);
    seen.add(key);
    return [name, value];
  });
}

/** Encodes a packet; invalid input (a NUL in a string, a block number over 16 bits, ...) throws RangeError. */
export function encodeTftpPacket(packet: TftpPacket): Uint8Array {
  switch (packet.kind) {
    case 'rrq':
    case 'wrq':
      return assemble(TftpOpcode[packet.kind], [packet.filename, packet.mode, ...optionStrings(packet.options)]);
    case 'data':
      checkUint16(packet.block, 'block');
      if (packet.data.length > MAX_DATA_LENGTH) throw new RangeError(`DATA of ${packet.data.length} bytes`);
      return assemble(TftpOpcode.data, [packet.block, packet.data]);
    case 'ack':
      checkUint16(packet.block, 'block');
      return assemble(TftpOpcode.ack, [packet.block]);
    case 'error':
      checkUint16(packet.code, 'error code');
      return assemble(TftpOpcode.error, [packet.code, packet.message]);
    case 'oack':
      return assemble(TftpOpcode.oack, optionStrings(packet.options));
  }
}
