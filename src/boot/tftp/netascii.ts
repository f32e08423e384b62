/**
 * RFC 1350's netascii mode on the sending side, as tftp-hpa converts: LF goes out as CR LF and a bare CR as CR NUL
 * (RFC 764), so a receiver that undoes both gets the file back byte for byte. Pure.
 */

const CR = 0x0d;
const LF = 0x0a;

export function toNetascii(bytes: Uint8Array): Uint8Array {
  let extra = 0;
  for (const byte of bytes) if (byte === CR || byte === LF) extra++;
  const converted = new Uint8Array(bytes.length + extra);
  let at = 0;
  for (const byte of bytes) {
    if (byte === LF) {
      converted[at++] = CR;
      converted[at++] = LF;
    } else if (byte === CR) {
      converted[at++] = CR;
      converted[at++] = 0;
    } else {
      converted[at++] = byte;
    }
  }
  return converted;
}
