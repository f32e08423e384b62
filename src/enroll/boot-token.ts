/**
 * Per-boot enrollment credentials. The iPXE script puts a token on the kernel command line that binds the
 * machine's MAC, one boot (a random id) and an expiry, signed with the server's secret (HMAC-SHA256). At check-in
 * the agent presents it: the signature proves Hangar issued it, the MAC and expiry are checked here, and the boot
 * id lets the caller refuse a replay (a boot id is accepted once). Source addresses are never proof.
 *
 * Format: `hb1.<payload>.<signature>`, both base64url; the payload is `{"m":MAC,"b":BOOT,"e":EXPIRY_SECONDS}`.
 * It has no characters iPXE or the kernel command line would split or expand.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface BootTokenClaims {
  /** AA:BB:CC:DD:EE:FF */
  readonly mac: string;
  /** Random id of this boot, unique per issued token. */
  readonly boot: string;
  /** Seconds since the epoch after which the token is refused. */
  readonly expires: number;
}

export type BootTokenCheck =
  | { readonly ok: true; readonly claims: BootTokenClaims }
  | { readonly ok: false; readonly reason: 'malformed' | 'bad-signature' | 'expired' | 'wrong-mac'; readonly message: string };

const PREFIX = 'hb1';
/** The secret must carry at least this much entropy to make signatures unforgeable. */
export const MIN_SECRET_BYTES = 32;

function sign(secret: Buffer, payload: string): string {
  return createHmac('sha256', secret).update(`${PREFIX}.${payload}`).digest('base64url');
}

function checkSecret(secret: Buffer): void {
  if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`boot token secret must be at least ${MIN_SECRET_BYTES} bytes`);
}

export function issueBootToken(claims: BootTokenClaims, secret: Buffer): string {
  checkSecret(secret);
  const payload = Buffer.from(JSON.stringify({ m: claims.mac, b: claims.boot, e: claims.expires })).toString('base64url');
  return `${PREFIX}.${payload}.${sign(secret, payload)}`;
}

/** Checks a presented token for the MAC the check-in claims, at `nowSeconds`. Never throws on bad input. */
export function verifyBootToken(token: string, secret: Buffer, expected: { mac: string; nowSeconds: number }): BootTokenCheck {
  checkSecret(secret);
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !/^[A-Za-z0-9_-]+$/.test(parts[1]!) || !/^[A-Za-z0-9_-]{43}$/.test(parts[2]!)) {
    return { ok: false, reason: 'malformed', message: 'the boot token is not a Hangar boot token (hb1.PAYLOAD.SIGNATURE)' };
  }
  const [, payload, signature] = parts as [string, string, string];
  // Compared as text: base64url's last character has spare bits, so decoded bytes could match a changed token.
  const wanted = Buffer.from(sign(secret, payload));
  const given = Buffer.from(signature);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    return { ok: false, reason: 'bad-signature', message: 'the boot token was not issued by this Hangar (its signature does not match)' };
  }
  let claims: BootTokenClaims;
  try {
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { m?: unknown; b?: unknown; e?: unknown };
    if (typeof decoded.m !== 'string' || typeof decoded.b !== 'string' || typeof decoded.e !== 'number') throw new Error('fields');
    claims = { mac: decoded.m, boot: decoded.b, expires: decoded.e };
  } catch {
    return { ok: false, reason: 'malformed', message: 'the boot token payload does not decode' };
  }
  if (claims.mac !== expected.mac) {
    return { ok: false, reason: 'wrong-mac', message: `the boot token was issued to ${claims.mac}, not ${expected.mac}` };
  }
  if (expected.nowSeconds > claims.expires) {
    return { ok: false, reason: 'expired', message: `the boot token expired at ${new Date(claims.expires * 1000).toISOString()}` };
  }
  return { ok: true, claims };
}
