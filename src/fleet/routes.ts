import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../api/access.js';
import { strictObject } from '../api/schemas.js';
import { fleetSchema } from './document.js';
import type { FleetService } from './service.js';
import type { FleetSync } from './sync.js';

const tags = ['fleet'];
/** A 10,000-device repository is about 5 MB of YAML. */
const FLEET_BODY_LIMIT = 64 * 1024 * 1024;

const Files = Type.Array(strictObject({ path: Type.String({ minLength: 1, maxLength: 1000 }), content: Type.String() }), { minItems: 1 });
const Change = Type.Object({
  action: Type.String(),
  objectType: Type.String(),
  kind: Type.String(),
  key: Type.String(),
  id: Type.Union([Type.Integer(), Type.Null()]),
  fields: Type.Array(Type.Object({ field: Type.String(), old: Type.Optional(Type.Unknown()), new: Type.Optional(Type.Unknown()) })),
  adopt: Type.Optional(Type.Boolean()),
  renamedFrom: Type.Optional(Type.String()),
  allocateFrom: Type.Optional(Type.String()),
  source: Type.Union([Type.String(), Type.Null()]),
});
const PlanView = Type.Object({
  changes: Type.Array(Change),
  summary: Type.Object({ create: Type.Integer(), update: Type.Integer(), delete: Type.Integer() }),
  hash: Type.String(),
  applied: Type.Optional(Type.Boolean()),
});

export const fleetRoutes: FastifyPluginAsyncTypebox<{ fleet: FleetService; sync: FleetSync | null }> = async (app, { fleet, sync }) => {
  app.post(
    '/api/fleet/plan/',
    {
      bodyLimit: FLEET_BODY_LIMIT,
      config: { access: 'read' },
      schema: { tags, summary: 'What applying these repository files would create, update and delete', body: strictObject({ files: Files }), response: { 200: PlanView } },
    },
    async (request) => fleet.plan(request.body.files),
  );

  app.post(
    '/api/fleet/apply/',
    {
      bodyLimit: FLEET_BODY_LIMIT,
      config: { access: 'write' },
      schema: {
        tags,
        summary: 'Apply the plan of these repository files in one transaction',
        body: strictObject({
          files: Files,
          allow_delete: Type.Optional(Type.Boolean({ default: false })),
          plan_hash: Type.Optional(Type.String({ description: 'the approved plan: refused with 409 when the plan is another' })),
          commit: Type.Optional(Type.String({ maxLength: 100 })),
          author: Type.Optional(Type.String({ maxLength: 300 })),
          repository: Type.Optional(Type.String({ maxLength: 1000 })),
        }),
        response: { 200: PlanView },
      },
    },
    async (request) => {
      const { files, allow_delete = false, plan_hash, commit, author, repository } = request.body;
      return fleet.apply(files, principalOf(request), { allowDelete: allow_delete, expectedHash: plan_hash, origin: { commit, author, repository } });
    },
  );

  app.get(
    '/api/fleet/drift/',
    { schema: { tags, summary: 'Managed objects changed outside the repository since the last apply, field by field', response: { 200: Type.Object({ count: Type.Integer(), results: Type.Array(Change) }) } } },
    async () => {
      const results = await fleet.drift();
      return { count: results.length, results };
    },
  );

  app.get(
    '/api/fleet/schema.json',
    { config: { access: 'public' }, schema: { tags, summary: 'JSON Schema of a fleet repository file, for editors', security: [] } },
    async () => fleetSchema(fleet.kinds),
  );

  app.get('/api/sync/status', { schema: { tags, summary: 'Git sync: last commit seen and applied, last error, drift' } }, async (_request, reply) => {
    if (!sync) return reply.code(404).send({ detail: 'sync is not enabled: start hangar serve with --sync-repo' });
    return sync.status();
  });
};
