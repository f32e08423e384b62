import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.js';
import type { Clock } from '../core/clock.js';
import { InvalidError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import type { EventLog } from '../events/log.js';
import type { ApiTokenTable, Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Principal } from './principal.js';
import { generateToken, hashToken, isScope, tokenPrefix, type Scope } from './token.js';

export interface TokenRequest {
  scope: string;
  tenant?: string | null | undefined;
  /** Absolute expiry time (ISO-8601), or null for a token that does not expire. */
  expires?: string | null | undefined;
  description?: string | undefined;
}

/** A token as listed: never the secret or its hash. */
export interface TokenView {
  id: number;
  key_prefix: string;
  scope: Scope;
  tenant: string | null;
  description: string;
  created: string;
  expires: string | null;
}

type TokenRow = Omit<ApiTokenTable, 'id'> & { id: number };

function view(row: TokenRow): TokenView {
  return {
    id: Number(row.id),
    key_prefix: row.key_prefix,
    scope: row.scope as Scope,
    tenant: row.tenant,
    description: row.description,
    created: row.created,
    expires: row.expires,
  };
}

const TENANT_SLUG = /^[a-z0-9][a-z0-9_-]{0,99}$/;

export class TokenService {
  constructor(
    private readonly store: Store,
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  /** Creates a token. The secret is returned here once and never again. */
  async create(request: TokenRequest, actor: string): Promise<{ token: string; record: TokenView }> {
    if (!isScope(request.scope)) {
      throw new InvalidError(`scope: '${request.scope}' is not one of read, write, admin`, 'scope');
    }
    const tenant = request.tenant ?? null;
    if (tenant !== null && !TENANT_SLUG.test(tenant)) {
      throw new InvalidError(`tenant: '${tenant}' is not a slug (lower-case letters, digits, - and _)`, 'tenant');
    }
    const now = this.clock.now();
    let expires: string | null = null;
    if (request.expires) {
      const at = new Date(request.expires);
      if (Number.isNaN(at.getTime())) throw new InvalidError(`expires: '${request.expires}' is not a date-time`, 'expires');
      if (at <= now) throw new InvalidError('expires: must be in the future', 'expires');
      expires = at.toISOString();
    }
    const token = generateToken();
    const values = {
      key_prefix: tokenPrefix(token),
      key_hash: hashToken(token),
      scope: request.scope,
      tenant,
      description: request.description ?? '',
      created: now.toISOString(),
      expires,
    };
    const record = await this.store.transaction(async (tx) => {
      const row = await tx.db.insertInto('api_tokens').values(values).returningAll().executeTakeFirstOrThrow();
      const record = view(row);
      await this.audit.append(tx, { actor, action: 'create', objectType: 'token', objectId: record.id, before: null, after: record });
      await this.events.append(tx, { type: 'token.created', subject: `token:${record.id}`, actor, data: { scope: record.scope, tenant } });
      return record;
    });
    return { token, record };
  }

  async list(): Promise<TokenView[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('id').execute();
    return rows.map(view);
  }

  async revoke(id: number, actor: string): Promise<TokenView> {
    return this.store.transaction(async (tx) => {
      const row = await tx.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new NotFoundError(`token ${id} does not exist`);
      await tx.db.deleteFrom('api_tokens').where('id', '=', id).execute();
      const record = view(row);
      await this.audit.append(tx, { actor, action: 'delete', objectType: 'token', objectId: id, before: record, after: null });
      await this.events.append(tx, { type: 'token.revoked', subject: `token:${id}`, actor });
      return record;
    });
  }

  /** Resolves a presented secret to its principal, or throws 401 with the reason. */
  async authenticate(token: string | null): Promise<Principal> {
    if (token === null) {
      throw new UnauthorizedError('authentication required: send "Authorization: Token <token>" or "Bearer <token>"');
    }
    const row = await this.db.selectFrom('api_tokens').selectAll().where('key_hash', '=', hashToken(token)).executeTakeFirst();
    if (!row) throw new UnauthorizedError('invalid token');
    if (row.expires !== null && row.expires <= this.clock.now().toISOString()) {
      throw new UnauthorizedError(`token expired at ${row.expires}`);
    }
    return { actor: `token:${row.id}`, scope: row.scope as Scope, tenant: row.tenant };
  }
}
