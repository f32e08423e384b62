import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope, requireUnrestricted, type Principal } from '../auth/principal.js';
import type { TokenService } from '../auth/service.js';
import { tokenFromAuthorization, type Scope } from '../auth/token.js';

/** Who may call a route: anyone, or a token with at least this scope. */
export type Access = 'public' | Scope;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Default: `read` for GET and HEAD, `write` for everything else. */
    access?: Access;
    /** True when the route filters by the token's tenant itself; otherwise tenant-restricted tokens get 403. */
    tenantScoped?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Authenticates every routed request before its body is read. */
export function registerAccessControl(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    if (request.routeOptions.url === undefined) return; // unrouted: the not-found handler answers
    const access = config.access ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
    if (access === 'public') return;
    const principal = await tokens.authenticate(tokenFromAuthorization(request.headers.authorization));
    requireScope(principal, access);
    if (!config.tenantScoped) requireUnrestricted(principal);
    request.principal = principal;
  });
}

/** The authenticated principal of a non-public route. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error(`route ${request.routeOptions.url ?? request.url} is public but needs a principal`);
  return request.principal;
}
