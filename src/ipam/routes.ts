import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from '../api/access.js';
import { InvalidError } from '../core/errors.js';
import { formatAddress } from '../core/net/index.js';
import type { Resource } from '../inventory/model.js';
import { baseUrl, window } from '../inventory/routes.js';
import type { InventoryService, Query } from '../inventory/service.js';
import { poolOfPrefix, poolOfRange, type AddressPool, type IpamService } from './service.js';

type Json = Record<string, unknown>;

export interface IpamRouteOptions {
  inventory: InventoryService;
  ipam: IpamService;
  prefixes: Resource;
  ranges: Resource;
  addresses: Resource;
}

/** A POST body of available-ips / available-prefixes: one object or a list. */
function requestItems(body: unknown): { items: Json[]; paths: string[]; many: boolean } {
  const many = Array.isArray(body);
  const items = (many ? body : [body ?? {}]) as unknown[];
  items.forEach((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new InvalidError(`body${many ? `.${index}` : ''}: must be an object`, many ? `body.${index}` : 'body');
    }
  });
  return { items: items as Json[], paths: items.map((_, index) => (many ? `body.${index}` : 'body')), many };
}

/** NetBox's available-ips and available-prefixes endpoints, and Hangar's whois look-up. */
export function registerIpamRoutes(app: FastifyInstance, { inventory, ipam, prefixes, ranges, addresses }: IpamRouteOptions): void {
  const config = { tenantScoped: true };
  const params = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'], additionalProperties: false };
  const limitOnly = { type: 'object', properties: { limit: { type: 'integer', minimum: 0 } }, additionalProperties: false };

  const availableIps = (resource: Resource, poolOf: (row: Parameters<typeof poolOfPrefix>[0]) => AddressPool) => {
    const url = `/api/${resource.path}/:id/available-ips/`;
    const tags = ['ipam'];
    const pool = async (request: FastifyRequest) => poolOf(await inventory.get(resource, (request.params as { id: number }).id, principalOf(request)));

    app.get(url, { config, schema: { tags, summary: `Free addresses of a ${resource.label}`, params, querystring: limitOnly } }, async (request) =>
      ipam.freeAddresses(await pool(request), window(request.query as Query).limit),
    );
    app.post(url, { config, schema: { tags, summary: `Allocate the next free address(es) of a ${resource.label}; 409 when full`, params } }, async (request, reply) => {
      const { items, paths, many } = requestItems(request.body);
      const rows = await ipam.allocateAddresses(await pool(request), items, paths, principalOf(request));
      const out = await inventory.serializer(baseUrl(request)).full(addresses, rows);
      return reply.status(201).send(many ? out : out[0]);
    });
  };
  availableIps(prefixes, poolOfPrefix);
  availableIps(ranges, poolOfRange);

  const prefixUrl = '/api/ipam/prefixes/:id/available-prefixes/';
  app.get(prefixUrl, { config, schema: { tags: ['ipam'], summary: 'Free child prefixes (largest aligned blocks)', params } }, async (request) =>
    ipam.freePrefixes(await inventory.get(prefixes, (request.params as { id: number }).id, principalOf(request))),
  );
  app.post(prefixUrl, { config, schema: { tags: ['ipam'], summary: 'Allocate child prefix(es) of prefix_length; 409 when there is no room', params } }, async (request, reply) => {
    const parent = await inventory.get(prefixes, (request.params as { id: number }).id, principalOf(request));
    const { items, paths, many } = requestItems(request.body);
    const rows = await ipam.allocatePrefixes(parent, items, paths, principalOf(request));
    const out = await inventory.serializer(baseUrl(request)).full(prefixes, rows);
    return reply.status(201).send(many ? out : out[0]);
  });

  app.get(
    '/api/ipam/whois/',
    {
      config,
      schema: {
        tags: ['ipam'],
        summary: 'Whose is this address: the narrowest prefix holding it (with its tenant), IP ranges, and the IP address object with what it is assigned to',
        querystring: { type: 'object', properties: { address: { type: 'string' } }, required: ['address'], additionalProperties: false },
      },
    },
    async (request) => {
      const { address } = request.query as { address: string };
      const found = await ipam.whois(address, principalOf(request));
      const serializer = inventory.serializer(baseUrl(request));
      return {
        address: formatAddress(found.address),
        prefix: found.prefix ? (await serializer.full(prefixes, [found.prefix]))[0] : null,
        ip_ranges: await serializer.briefMany(ranges, found.ranges),
        ip_address: found.ipAddress ? (await serializer.full(addresses, [found.ipAddress]))[0] : null,
      };
    },
  );
}
