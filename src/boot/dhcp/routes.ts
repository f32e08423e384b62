import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { page } from '../../api/pagination.js';
import { Limit, Offset, pageOf, strictObject, stringEnum } from '../../api/schemas.js';
import { normalizeMac } from '../../core/net/index.js';
import type { Store } from '../../store/store.js';
import { listLeases } from './lease-store.js';

const Lease = Type.Object({
  address: Type.String(),
  mac: Type.Union([Type.String(), Type.Null()]),
  subnet: Type.String(),
  state: Type.String(),
  expires: Type.String({ format: 'date-time' }),
  /** Bound and not expired: the address is this MAC's. */
  active: Type.Boolean(),
  hostname: Type.Union([Type.String(), Type.Null()]),
  client_id: Type.Union([Type.String(), Type.Null()]),
  updated: Type.String(),
});

/** The DHCP server's durable leases, as the store holds them (written before each ACK left). */
export const dhcpRoutes: FastifyPluginAsyncTypebox<{ store: Store; now: () => number }> = async (app, { store, now }) => {
  app.get(
    '/api/dhcp/leases/',
    {
      schema: {
        tags: ['dhcp'],
        summary: 'DHCP leases by address',
        querystring: strictObject({
          mac: Type.Optional(Type.String({ description: 'MAC address, any common notation' })),
          state: Type.Optional(stringEnum(['offered', 'bound', 'declined', 'released'])),
          subnet: Type.Optional(Type.String({ description: 'boot subnet name' })),
          limit: Type.Optional(Limit),
          offset: Type.Optional(Offset),
        }),
        response: { 200: pageOf(Lease) },
      },
    },
    async (request) => {
      const { limit = 50, offset = 0, mac, state, subnet } = request.query;
      const filter = { mac: mac === undefined ? undefined : normalizeMac(mac, 'query.mac').toLowerCase(), state, subnet };
      const { count, rows } = await listLeases(store.db as unknown as Kysely<unknown>, filter, { limit, offset });
      const at = now();
      const results = rows.map(({ expires_at, ...row }) => ({
        ...row,
        expires: new Date(Number(expires_at)).toISOString(),
        active: row.state === 'bound' && Number(expires_at) > at,
      }));
      return page(request, { limit, offset }, count, results);
    },
  );
};
