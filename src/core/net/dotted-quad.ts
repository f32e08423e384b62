/**
 * IPv4 dotted quads as unsigned 32-bit numbers, for hot paths (every DHCP packet, every datagram the UDP addon
 * hands over): no allocation on parse, and a shared string per octet on format. Strict as inet_pton: four decimal
 * octets, no leading zeros, spaces or anything else. `parseAddress` is the general, error-naming parser.
 */

const DECIMAL = Array.from({ length: 256 }, (_, byte) => String(byte));

/** The address as a host-order number, or -1 when `text` is not a strict dotted quad. */
export function dottedQuadToNumber(text: string): number {
  if (typeof text !== 'string' || text.length > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let octets = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || octets === 4) return -1;
      value = value * 256 + octet;
      octets++;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && !(digits === 1 && octet === 0)) {
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  return octets === 4 ? value : -1;
}

/** The address as a host-order number; RangeError when `text` is not a strict dotted quad. */
export function parseDottedQuad(text: string): number {
  const value = dottedQuadToNumber(text);
  if (value < 0) throw new RangeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  return value;
}

export function numberToDottedQuad(value: number): string {
  // Most address fields of a client's packet are empty: one shared string for them.
  if (value === 0) return '0.0.0.0';
  return `${DECIMAL[value >>> 24]}.${DECIMAL[(value >>> 16) & 0xff]}.${DECIMAL[(value >>> 8) & 0xff]}.${DECIMAL[value & 0xff]}`;
}
