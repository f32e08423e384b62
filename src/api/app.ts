import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { auditRoutes } from '../audit/routes.js';
import { tokenRoutes } from '../auth/routes.js';
import { dhcpRoutes } from '../boot/dhcp/routes.js';
import { AdmissionGate } from '../boot/http/admission.js';
import { bootRoutes } from '../boot/http/routes.js';
import { imageFileRoutes } from '../boot/images/routes.js';
import { eventRoutes } from '../events/routes.js';
import { fleetRoutes } from '../fleet/routes.js';
import type { FleetSync } from '../fleet/sync.js';
import type { Services } from '../main.js';
import { HANGAR_VERSION } from '../version.js';
import { DEFAULT_MAX_IMAGE_TRANSFERS } from '../config.js';
import { registerNetboxConventions, NETBOX_VERSION } from '../inventory/netbox.js';
import { registerResourceRoutes } from '../inventory/routes.js';
import { registerIpamRoutes } from '../ipam/routes.js';
import { registerAccessControl } from './access.js';
import { registerErrorHandling } from './errors.js';
import { strictObject, stringEnum } from './schemas.js';
import { validatorCompiler } from './validation.js';

export interface ApiOptions {
  logLevel: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit?: number;
  eventPollMs?: number;
  eventHeartbeatMs?: number;
  /** The git sync loop, when `hangar serve --sync-repo` runs one. */
  sync?: FleetSync | null;
  /** Image transfers served at once before the boot service answers 503. */
  maxImageTransfers?: number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Assembles the HTTP API: every domain registers its routes; errors, auth and OpenAPI are handled once here. */
export async function buildApi(services: Services, options: ApiOptions): Promise<FastifyInstance> {
  const app = fastify({
    logger: { level: options.logLevel, redact: ['req.headers.authorization'] },
    bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  registerErrorHandling(app);
  registerAccessControl(app, services.tokens);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Hangar API', version: HANGAR_VERSION, description: 'Bare-metal fleet controller' },
      components: {
        securitySchemes: {
          tokenAuth: { type: 'apiKey', in: 'header', name: 'Authorization', description: '"Token <token>" or "Bearer <token>"' },
        },
      },
      security: [{ tokenAuth: [] }],
    },
  });

  registerNetboxConventions(app);
  const started = services.clock.now();
  const maxImageTransfers = options.maxImageTransfers ?? DEFAULT_MAX_IMAGE_TRANSFERS;
  // Clients that cannot retry by themselves wait in line: up to 16 per slot.
  const imageGate = new AdmissionGate({ limit: maxImageTransfers, maxWaiting: maxImageTransfers * 16, retryAfterSeconds: { min: 1, max: 10 }, random: Math.random, clock: services.clock });
  app.get(
    '/api/status/',
    {
      config: { access: 'public' },
      schema: {
        tags: ['status'],
        summary: 'Service status; needs no token',
        security: [],
        response: {
          200: Type.Object({
            'hangar-version': Type.String(),
            'netbox-version': Type.String(),
            database: Type.String(),
            started: Type.String({ format: 'date-time' }),
            image_transfers: Type.Object({
              limit: Type.Integer(),
              in_flight: Type.Integer(),
              peak: Type.Integer({ description: 'Most transfers at once since the server started' }),
              queued: Type.Integer({ description: 'Clients that do not retry by themselves, waiting for a slot' }),
              admitted: Type.Integer(),
              refused: Type.Integer(),
            }),
          }),
        },
      },
    },
    async () => ({
      'hangar-version': HANGAR_VERSION,
      'netbox-version': NETBOX_VERSION,
      database: services.store.backend,
      started: started.toISOString(),
      image_transfers: { limit: imageGate.limit, in_flight: imageGate.inFlight, peak: imageGate.peak, queued: imageGate.queued, admitted: imageGate.admitted, refused: imageGate.refused },
    }),
  );

  app.get(
    '/api/schema/',
    {
      config: { access: 'public' },
      schema: {
        tags: ['status'],
        summary: 'This OpenAPI document',
        security: [],
        querystring: strictObject({ format: Type.Optional(stringEnum(['json', 'openapi'])) }),
      },
    },
    async () => app.swagger(),
  );

  registerResourceRoutes(app, services.inventory, services.resources.all());
  registerIpamRoutes(app, {
    inventory: services.inventory,
    ipam: services.ipam,
    prefixes: services.resources.get('ipam.prefix'),
    ranges: services.resources.get('ipam.iprange'),
    addresses: services.resources.get('ipam.ipaddress'),
  });
  await app.register(tokenRoutes, { tokens: services.tokens });
  await app.register(auditRoutes, { audit: services.audit });
  await app.register(fleetRoutes, { fleet: services.fleet, sync: options.sync ?? null });
  await app.register(dhcpRoutes, { store: services.store, now: () => services.clock.now().getTime() });
  await app.register(imageFileRoutes, { images: services.images });
  await app.register(bootRoutes, { store: services.store, events: services.events, clock: services.clock, dataDir: services.store.location.dataDir, gate: imageGate });
  await app.register(eventRoutes, {
    events: services.events,
    pollMs: options.eventPollMs ?? 1000,
    heartbeatMs: options.eventHeartbeatMs ?? 15_000,
  });
  return app;
}
