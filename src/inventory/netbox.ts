import type { FastifyInstance } from 'fastify';
import { page } from '../api/pagination.js';
import { CONTROL_PARAMETERS } from './filters.js';
import { baseUrl, window } from './routes.js';
import type { Query } from './service.js';

/** The NetBox release whose API Hangar's inventory follows; clients pick their code paths by it. */
export const NETBOX_VERSION = '3.7.8';
export const NETBOX_API_VERSION = '3.7';

/**
 * Lists of NetBox objects that Hangar does not model, which NetBox clients read anyway (Ansible's inventory fails
 * on a 404): Hangar manages bare metal only, so it has no virtual machines, clusters or their interfaces, and
 * keeps no service (port) records. These lists are truthfully empty.
 */
const UNMODELLED = ['virtualization/virtual-machines', 'virtualization/clusters', 'virtualization/interfaces', 'ipam/services'];

/**
 * NetBox conventions beyond the resources: the API root, the API-Version header on every /api response, the
 * always-empty lists above, and Django's APPEND_SLASH: a GET of an API path without its trailing slash is
 * redirected to the slash form, which some clients rely on (Ansible asks for /api/status).
 */
export function registerNetboxConventions(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/')) void reply.header('API-Version', NETBOX_API_VERSION);
  });

  app.get('/api/', { config: { access: 'public' }, schema: { tags: ['status'], summary: 'The API root: one URL per app', security: [] } }, async (request) => {
    const base = baseUrl(request);
    return Object.fromEntries(['dcim', 'extras', 'ipam', 'tenancy', 'virtualization', 'status', 'audit', 'events'].map((app) => [app, `${base}/api/${app}/`]));
  });

  for (const path of UNMODELLED) {
    const parameters = [...CONTROL_PARAMETERS, 'q', 'id', 'name', 'site', 'site_id', 'tenant', 'tenant_id', 'role', 'role_id', 'status', 'tag'];
    app.get(
      `/api/${path}/`,
      {
        config: { tenantScoped: true },
        schema: {
          tags: [path.split('/')[0] as string],
          summary: 'Always empty: Hangar does not model these objects (bare metal only)',
          querystring: { type: 'object', properties: Object.fromEntries(parameters.map((name) => [name, { type: 'string' }])), additionalProperties: false },
        },
      },
      async (request) => {
        const { limit, offset } = window(request.query as Query);
        return page(request, { limit, offset }, 0, []);
      },
    );
  }
}
