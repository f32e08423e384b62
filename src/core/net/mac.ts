import { fail, InvalidAddressError, parseWith } from './address.js';

// aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff (one separator throughout), aabb.ccdd.eeff (Cisco), aabbccddeeff.
const MAC_FORMS = [
  /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i,
  /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i,
  /^[0-9a-f]{12}$/i,
];

/** The 6 bytes of a MAC address written in any of the common forms, any letter case. */
export function parseMac(text: string, field?: string): Uint8Array {
  return parseWith(text, 'a MAC address', field, () => {
    if (!MAC_FORMS.some((form) => form.test(text))) {
      fail('expected 6 hex bytes as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff');
    }
    const hex = text.replace(/[^0-9a-f]/gi, '');
    return Uint8Array.from({ length: 6 }, (_, index) => parseInt(hex.slice(2 * index, 2 * index + 2), 16));
  });
}

/** Colon-separated: upper case is NetBox's display form (`AA:BB:CC:DD:EE:FF`), lower case what Linux prints. */
export function formatMac(bytes: Uint8Array, letterCase: 'upper' | 'lower' = 'upper'): string {
  const text = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(':');
  if (bytes.length !== 6) throw new InvalidAddressError(text, 'a MAC address', `it has ${bytes.length} bytes, not 6`);
  return letterCase === 'upper' ? text.toUpperCase() : text;
}

/** Any accepted form to NetBox's `AA:BB:CC:DD:EE:FF`. */
export function normalizeMac(text: string, field?: string): string {
  return formatMac(parseMac(text, field));
}
