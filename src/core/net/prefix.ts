import {
  addressBits,
  addressOf,
  compareAddresses,
  fail,
  formatAddress,
  parseAddress,
  parseWith,
  type IpAddress,
  type IpFamily,
} from './address.js';
import type { IpRange } from './range.js';

/** A CIDR block: its network address (no host bits set) and its length in bits. */
export interface IpPrefix {
  readonly network: IpAddress;
  readonly length: number;
}

/** An address with the length of its network: NetBox's IP address form, `10.0.0.5/24`. */
export interface AddressWithMask {
  readonly address: IpAddress;
  readonly length: number;
}

function hostBits(family: IpFamily, length: number): bigint {
  return BigInt(addressBits(family) - length);
}

function checkLength(family: IpFamily, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > addressBits(family)) {
    throw new RangeError(`/${length} is not a prefix length for IPv${family}`);
  }
}

/** `10.0.0.0/24` strictly: host bits set is an error that names the network meant. */
export function parsePrefix(text: string, field?: string): IpPrefix {
  return parseWith(text, 'a prefix', field, () => {
    const { address, length } = splitAtLength(text);
    const prefix = prefixContaining(address, length);
    if (prefix.network.value !== address.value) fail(`host bits are set (the network is ${formatPrefix(prefix)})`);
    return prefix;
  });
}

/** `10.0.0.5/24`: an address and the length of its network, as NetBox stores IP addresses. */
export function parseAddressWithMask(text: string, field?: string): AddressWithMask {
  return parseWith(text, 'an IP address with mask', field, () => splitAtLength(text));
}

function splitAtLength(text: string): AddressWithMask {
  const slash = text.indexOf('/');
  if (slash < 0) fail("the '/length' is missing (example: 10.0.0.0/24)");
  const address = parseAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lengthText)) fail(`'/${lengthText}' is not a prefix length (a decimal number)`);
  const bits = addressBits(address.family);
  if (Number(lengthText) > bits) fail(`/${lengthText} is longer than the ${bits} bits of an IPv${address.family} address`);
  return { address, length: Number(lengthText) };
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${formatAddress(prefix.network)}/${prefix.length}`;
}

export function formatAddressWithMask(value: AddressWithMask): string {
  return `${formatAddress(value.address)}/${value.length}`;
}

/** The prefix of the given length that holds the address (its host bits cleared). */
export function prefixContaining(address: IpAddress, length: number): IpPrefix {
  checkLength(address.family, length);
  const host = hostBits(address.family, length);
  return { network: addressOf(address.family, (address.value >> host) << host), length };
}

/** The network of an address with mask: `10.0.0.5/24` is in `10.0.0.0/24`. */
export function networkOf(value: AddressWithMask): IpPrefix {
  return prefixContaining(value.address, value.length);
}

/** The last address: the broadcast address of an IPv4 prefix. */
export function lastAddress(prefix: IpPrefix): IpAddress {
  const { family, value } = prefix.network;
  return addressOf(family, value | ((1n << hostBits(family, prefix.length)) - 1n));
}

export function prefixSize(prefix: IpPrefix): bigint {
  return 1n << hostBits(prefix.network.family, prefix.length);
}

export function prefixRange(prefix: IpPrefix): IpRange {
  return { start: prefix.network, end: lastAddress(prefix) };
}

/** The mask as an address, `255.255.255.0` for a /24 (DHCP option 1). */
export function netmask(prefix: IpPrefix): IpAddress {
  const { family } = prefix.network;
  const all = (1n << BigInt(addressBits(family))) - 1n;
  return addressOf(family, all ^ ((1n << hostBits(family, prefix.length)) - 1n));
}

export function prefixContainsAddress(prefix: IpPrefix, address: IpAddress): boolean {
  const host = hostBits(prefix.network.family, prefix.length);
  return address.family === prefix.network.family && address.value >> host === prefix.network.value >> host;
}

/** True when inner lies within outer, including when they are equal. */
export function prefixContainsPrefix(outer: IpPrefix, inner: IpPrefix): boolean {
  return inner.length >= outer.length && prefixContainsAddress(outer, inner.network);
}

/** CIDR blocks either nest or are apart, so overlapping means one contains the other. */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  return prefixContainsPrefix(a, b) || prefixContainsPrefix(b, a);
}

/** By network address, then shorter first, so a parent sorts before its first child (as PostgreSQL orders inet). */
export function comparePrefixes(a: IpPrefix, b: IpPrefix): number {
  return compareAddresses(a.network, b.network) || a.length - b.length;
}

/** The subnets of the given length in order, lazily (a /64 has 2^64 /128s). */
export function* subnets(prefix: IpPrefix, length: number): Generator<IpPrefix> {
  const { family } = prefix.network;
  checkLength(family, length);
  if (length < prefix.length) throw new RangeError(`/${length} is shorter than ${formatPrefix(prefix)}`);
  const step = 1n << hostBits(family, length);
  const last = lastAddress(prefix).value;
  for (let value = prefix.network.value; value <= last; value += step) yield { network: addressOf(family, value), length };
}

/** The enclosing prefix of the given length, by default one bit shorter. */
export function supernet(prefix: IpPrefix, length = prefix.length - 1): IpPrefix {
  if (length > prefix.length) throw new RangeError(`/${length} is longer than ${formatPrefix(prefix)}`);
  return prefixContaining(prefix.network, length);
}

/**
 * The fewest CIDR blocks that cover exactly the range, in order: at each step the largest block aligned at the
 * cursor that does not run past the end (netaddr's iprange_to_cidrs). At most 2 x bits blocks.
 */
export function* rangeToPrefixes(range: IpRange): Generator<IpPrefix> {
  const { family } = range.start;
  const bits = addressBits(family);
  for (let cursor = range.start.value; cursor <= range.end.value; ) {
    const alignment = cursor === 0n ? bits : (cursor & -cursor).toString(2).length - 1;
    const fitting = (range.end.value - cursor + 1n).toString(2).length - 1;
    const host = Math.min(alignment, fitting);
    yield { network: addressOf(family, cursor), length: bits - host };
    cursor += 1n << BigInt(host);
  }
}
