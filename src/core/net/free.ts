import { addressBits, addressOf, type IpAddress } from './address.js';
import { prefixRange, rangeToPrefixes, type IpPrefix } from './prefix.js';
import { formatRange, type IpRange } from './range.js';

/**
 * The addresses of a prefix that NetBox offers as available IPs (ipam Prefix.get_available_ips): pools, IPv4
 * /31 and /32 and IPv6 /127 and /128 offer all; other IPv4 prefixes leave out the network and broadcast
 * addresses, other IPv6 prefixes the Subnet-Router anycast address (the first, RFC 4291 §2.6.1).
 */
export function usableRange(prefix: IpPrefix, options: { pool?: boolean } = {}): IpRange {
  const { start, end } = prefixRange(prefix);
  const { family } = start;
  if (options.pool === true || prefix.length >= addressBits(family) - 1) return { start, end };
  return { start: addressOf(family, start.value + 1n), end: family === 4 ? addressOf(family, end.value - 1n) : end };
}

/**
 * The free stretches of `within` around the used addresses and ranges, in order and lazily: `used` is read only
 * as far as the free ranges are taken, so the first free address of a /64 costs a few rows, not 2^64.
 * `used` must be sorted by start address; its items may overlap, nest, repeat, or lie partly outside `within`.
 */
export function* freeRanges(within: IpRange, used: Iterable<IpAddress | IpRange>): Generator<IpRange> {
  const { family } = within.start;
  const end = within.end.value;
  let cursor = within.start.value;
  let previousStart = -1n;
  for (const item of used) {
    const taken = 'value' in item ? { start: item, end: item } : item;
    if (taken.start.family !== family) throw new RangeError(`${formatRange(taken)} is not IPv${family} like ${formatRange(within)}`);
    if (taken.start.value < previousStart) throw new RangeError(`used addresses are not sorted: ${formatRange(taken)} comes late`);
    previousStart = taken.start.value;
    if (taken.start.value > end) break;
    if (taken.end.value < cursor) continue;
    if (taken.start.value > cursor) yield { start: addressOf(family, cursor), end: addressOf(family, taken.start.value - 1n) };
    if (taken.end.value >= end) return;
    cursor = taken.end.value + 1n;
  }
  yield { start: addressOf(family, cursor), end: within.end };
}

/** The lowest address of `within` not among `used` (sorted as for freeRanges), or undefined when all are used. */
export function firstFreeAddress(within: IpRange, used: Iterable<IpAddress | IpRange>): IpAddress | undefined {
  const first = freeRanges(within, used).next();
  return first.done === true ? undefined : first.value.start;
}

/**
 * NetBox's available-prefixes: the space of `parent` outside its children as the largest aligned CIDR blocks,
 * in order (IPSet(parent) - IPSet(children), iter_cidrs). Children sorted by comparePrefixes; they may nest.
 */
export function* availablePrefixes(parent: IpPrefix, children: Iterable<IpPrefix>): Generator<IpPrefix> {
  for (const free of freeRanges(prefixRange(parent), rangesOf(children))) yield* rangeToPrefixes(free);
}

function* rangesOf(prefixes: Iterable<IpPrefix>): Generator<IpRange> {
  for (const prefix of prefixes) yield prefixRange(prefix);
}
