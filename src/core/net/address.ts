import { InvalidError } from '../errors.js';

export type IpFamily = 4 | 6;

/** An IP address: its family and its value as an unsigned 32- or 128-bit integer. Plain data, never mutated. */
export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/**
 * Text that is not a valid IP address, prefix, range or MAC address. An InvalidError, so the API answers 400.
 * `detail` is the reason alone, so callers parsing a larger form can re-raise it naming their own input.
 */
export class InvalidAddressError extends InvalidError {
  readonly input: string;
  readonly detail: string;

  constructor(input: string, kind: string, detail: string, field?: string) {
    // Inputs come from users: cut long ones and escape control characters before echoing them.
    const shown = JSON.stringify(input.length > 64 ? `${input.slice(0, 61)}...` : input);
    super(`${field === undefined ? '' : `${field}: `}${shown} is not ${kind}: ${detail}`, field);
    this.input = input;
    this.detail = detail;
  }
}

/** Thrown inside the parsers with the reason alone; the public entry points wrap it with the input. */
class Malformed extends Error {}

/** Rejects the text being parsed inside parseWith; the reason alone, parseWith adds the input. */
export function fail(reason: string): never {
  throw new Malformed(reason);
}

/** Runs a parser and turns its Malformed reason into an InvalidAddressError naming the input. */
export function parseWith<T>(input: string, kind: string, field: string | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof Malformed) throw new InvalidAddressError(input, kind, error.message, field);
    if (error instanceof InvalidAddressError) throw new InvalidAddressError(input, kind, error.detail, field);
    throw error;
  }
}

export function addressBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

function maxValue(family: IpFamily): bigint {
  return (1n << BigInt(addressBits(family))) - 1n;
}

/** Builds an address from its numeric value; a value outside the family's space is a programming error. */
export function addressOf(family: IpFamily, value: bigint): IpAddress {
  if (value < 0n || value > maxValue(family)) throw new RangeError(`${value} is outside the IPv${family} space`);
  return { family, value };
}

/** Parses `192.0.2.1` or any RFC 4291 IPv6 form. Strict: no leading zeros in IPv4 octets, no zone, no spaces. */
export function parseAddress(text: string, field?: string): IpAddress {
  return parseWith(text, 'an IP address', field, () => {
    if (text === '') fail('it is empty');
    return text.includes(':') ? { family: 6, value: ipv6Value(text) } : { family: 4, value: ipv4Value(text) };
  });
}

function ipv4Value(text: string): bigint {
  const octets = text.split('.');
  if (octets.length !== 4) fail(`an IPv4 address has 4 dot-separated octets, found ${octets.length}`);
  let value = 0n;
  for (const octet of octets) {
    if (!/^[0-9]{1,3}$/.test(octet)) fail(octet === '' ? 'an octet is empty' : `octet '${octet}' is not a number from 0 to 255`);
    // Leading zeros mean octal to inet_aton and decimal to others; refuse the ambiguity.
    if (octet.length > 1 && octet.startsWith('0')) fail(`octet '${octet}' has a leading zero`);
    if (Number(octet) > 255) fail(`octet ${octet} is above 255`);
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function ipv6Value(text: string): bigint {
  if (text.includes('%')) fail('zone indexes (%...) are not supported');
  const halves = text.split('::');
  if (halves.length > 2) fail("'::' may appear only once");
  const [head = '', tail] = halves;
  const left = ipv6Groups(head, tail === undefined);
  const right = tail === undefined ? [] : ipv6Groups(tail, true);
  if (tail === undefined && left.length !== 8) fail(`an IPv6 address has 8 groups, found ${left.length}`);
  if (tail !== undefined && left.length + right.length > 7) fail("too many groups to leave room for '::'");
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** The 16-bit groups of one side of '::'; a dotted IPv4 tail (last side only) counts as two groups. */
function ipv6Groups(part: string, endsAddress: boolean): number[] {
  if (part === '') return [];
  const fields = part.split(':');
  return fields.flatMap((field, index) => {
    if (endsAddress && index === fields.length - 1 && field.includes('.')) {
      const v4 = Number(ipv4Value(field));
      return [Math.floor(v4 / 0x10000), v4 % 0x10000];
    }
    if (field === '') fail("a group is empty (a lone ':' at the start or end, or ':::')");
    if (!/^[0-9a-fA-F]{1,4}$/.test(field)) fail(`group '${field}' is not 1 to 4 hex digits`);
    return [parseInt(field, 16)];
  });
}

/** IPv4 dotted decimal; IPv6 in RFC 5952 canonical form, IPv4-mapped addresses as `::ffff:192.0.2.1` (RFC 5952 §5). */
export function formatAddress(address: IpAddress): string {
  const { family, value } = address;
  if (family === 4) return ipv4Text(value);
  if (value >> 32n === 0xffffn) return `::ffff:${ipv4Text(value & 0xffffffffn)}`;
  const groups = Array.from({ length: 8 }, (_, index) => Number((value >> BigInt(112 - 16 * index)) & 0xffffn));
  // The longest run of two or more zero groups becomes '::'; on a tie, the first (RFC 5952 §4.2).
  let runStart = -1;
  let runLength = 1;
  for (let start = 0; start < 8; ) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > runLength) [runStart, runLength] = [start, end - start];
    start = Math.max(end, start + 1);
  }
  const hex = groups.map((group) => group.toString(16));
  if (runStart < 0) return hex.join(':');
  return `${hex.slice(0, runStart).join(':')}::${hex.slice(runStart + runLength).join(':')}`;
}

function ipv4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
}

/** Orders IPv4 before IPv6, then numerically. */
export function compareAddresses(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The following address, or undefined past the top of the space. */
export function nextAddress(address: IpAddress): IpAddress | undefined {
  return address.value === maxValue(address.family) ? undefined : addressOf(address.family, address.value + 1n);
}

/** The preceding address, or undefined below zero. */
export function previousAddress(address: IpAddress): IpAddress | undefined {
  return address.value === 0n ? undefined : addressOf(address.family, address.value - 1n);
}

/**
 * Fixed-width lower-case hex of the value (8 digits for IPv4, 32 for IPv6): a database index on
 * (family, key) then orders addresses numerically.
 */
export function addressKey(address: IpAddress): string {
  return address.value.toString(16).padStart(addressBits(address.family) / 4, '0');
}

/** The address of a key made by addressKey; the family follows from its width. */
export function addressFromKey(key: string, field?: string): IpAddress {
  return parseWith(key, 'an address key', field, () => {
    if (!/^(?:[0-9a-f]{8}|[0-9a-f]{32})$/.test(key)) fail('expected 8 or 32 lower-case hex digits');
    return { family: key.length === 8 ? 4 : 6, value: BigInt(`0x${key}`) };
  });
}

/** Network byte order: 4 bytes for IPv4, 16 for IPv6. */
export function addressToBytes(address: IpAddress): Uint8Array {
  const bytes = new Uint8Array(addressBits(address.family) / 8);
  let value = address.value;
  for (let index = bytes.length - 1; index >= 0; index--, value >>= 8n) bytes[index] = Number(value & 0xffn);
  return bytes;
}

/** Reads 4 bytes as IPv4 or 16 as IPv6 (a Buffer is a Uint8Array too). */
export function addressFromBytes(bytes: Uint8Array): IpAddress {
  if (bytes.length !== 4 && bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
  const value = bytes.reduce((sum, byte) => (sum << 8n) | BigInt(byte), 0n);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as dual-stack sockets report peers); others unchanged. */
export function unmapIpv4(address: IpAddress): IpAddress {
  return address.family === 6 && address.value >> 32n === 0xffffn
    ? { family: 4, value: address.value & 0xffffffffn }
    : address;
}
