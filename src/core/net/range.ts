import { addressOf, compareAddresses, formatAddress, InvalidAddressError, type IpAddress } from './address.js';

/** The addresses from start to end, both included, of one family, start <= end. */
export interface IpRange {
  readonly start: IpAddress;
  readonly end: IpAddress;
}

/** Checks that the ends share a family and are in order (NetBox's IP range start/end fields, DHCP pools). */
export function makeRange(start: IpAddress, end: IpAddress, field?: string): IpRange {
  const input = `${formatAddress(start)}-${formatAddress(end)}`;
  if (start.family !== end.family) throw new InvalidAddressError(input, 'an IP range', 'start and end are of different families', field);
  if (compareAddresses(start, end) > 0) throw new InvalidAddressError(input, 'an IP range', 'the end is before the start', field);
  return { start, end };
}

export function formatRange(range: IpRange): string {
  return `${formatAddress(range.start)}-${formatAddress(range.end)}`;
}

export function rangeSize(range: IpRange): bigint {
  return range.end.value - range.start.value + 1n;
}

export function rangeContains(range: IpRange, address: IpAddress): boolean {
  return address.family === range.start.family && range.start.value <= address.value && address.value <= range.end.value;
}

/** The addresses in both ranges, or undefined when they do not meet. */
export function rangeIntersection(a: IpRange, b: IpRange): IpRange | undefined {
  if (a.start.family !== b.start.family) return undefined;
  const start = compareAddresses(a.start, b.start) >= 0 ? a.start : b.start;
  const end = compareAddresses(a.end, b.end) <= 0 ? a.end : b.end;
  return compareAddresses(start, end) <= 0 ? { start, end } : undefined;
}

/** Every address of the range in order, lazily: take what you need, even from a /64. */
export function* addressesIn(range: IpRange): Generator<IpAddress> {
  for (let value = range.start.value; value <= range.end.value; value++) yield addressOf(range.start.family, value);
}
