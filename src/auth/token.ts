import { createHash, randomBytes } from 'node:crypto';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 };

/** admin includes write, write includes read. */
export function scopeAllows(granted: Scope, needed: Scope): boolean {
  return RANK[granted] >= RANK[needed];
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

const TOKEN_PREFIX = 'hgr_';

/** A new secret: a fixed prefix (so secret scanners can spot leaked tokens) and 160 random bits in hex. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(20).toString('hex');
}

/** Tokens are long random secrets, so one round of sha256 is enough to store them safely. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The part shown in listings: enough to tell tokens apart, useless to an attacker. */
export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX.length + 8);
}

/** Reads `Token <t>` (NetBox's form) or `Bearer <t>`. Returns null for a missing or malformed header. */
export function tokenFromAuthorization(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^(?:Token|Bearer)\s+(\S+)\s*$/i.exec(header);
  return match ? (match[1] as string) : null;
}
