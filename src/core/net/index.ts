// IPv4/IPv6 addresses, prefixes, ranges, free space and MAC addresses: pure math for IPAM and the DHCP server.
export {
  addressBits,
  addressFromBytes,
  addressFromKey,
  addressKey,
  addressOf,
  addressToBytes,
  compareAddresses,
  formatAddress,
  InvalidAddressError,
  nextAddress,
  parseAddress,
  previousAddress,
  unmapIpv4,
  type IpAddress,
  type IpFamily,
} from './address.js';
export {
  comparePrefixes,
  formatAddressWithMask,
  formatPrefix,
  lastAddress,
  netmask,
  networkOf,
  parseAddressWithMask,
  parsePrefix,
  prefixContaining,
  prefixContainsAddress,
  prefixContainsPrefix,
  prefixesOverlap,
  prefixRange,
  prefixSize,
  rangeToPrefixes,
  subnets,
  supernet,
  type AddressWithMask,
  type IpPrefix,
} from './prefix.js';
export { addressesIn, formatRange, makeRange, rangeContains, rangeIntersection, rangeSize, type IpRange } from './range.js';
export { availablePrefixes, firstFreeAddress, freeRanges, usableRange } from './free.js';
export { formatMac, normalizeMac, parseMac } from './mac.js';
export { dottedQuadToNumber, numberToDottedQuad, parseDottedQuad } from './dotted-quad.js';
