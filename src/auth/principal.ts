import { ForbiddenError } from '../core/errors.js';
import { scopeAllows, type Scope } from './token.js';

/** Who is making a request, as established by its token. */
export interface Principal {
  /** Written into audit entries: `token:<id>`, `cli:<user>`, `fleet:<commit>`, ... */
  actor: string;
  scope: Scope;
  /** Set when the principal may only see and change one tenant's objects. */
  tenant: string | null;
  /** Where the changes come from beyond the actor, recorded in audit entries (a fleet apply's commit and author). */
  via?: Readonly<Record<string, unknown>>;
}

export function requireScope(principal: Principal, needed: Scope): void {
  if (!scopeAllows(principal.scope, needed)) {
    throw new ForbiddenError(`this token has scope '${principal.scope}'; this action needs '${needed}'`);
  }
}

/** For resources that belong to no tenant: a tenant-restricted principal may not use them. */
export function requireUnrestricted(principal: Principal): void {
  if (principal.tenant !== null) {
    throw new ForbiddenError(`this token is restricted to tenant '${principal.tenant}'; this resource is not tenant-scoped`);
  }
}

/** For an object owned by `tenant` (null: owned by no tenant). */
export function requireTenant(principal: Principal, tenant: string | null): void {
  if (principal.tenant !== null && principal.tenant !== tenant) {
    throw new ForbiddenError(`this token is restricted to tenant '${principal.tenant}'`);
  }
}
