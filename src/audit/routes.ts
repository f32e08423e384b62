import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { page } from '../api/pagination.js';
import { Limit, Offset, pageOf, strictObject } from '../api/schemas.js';
import type { AuditLog } from './log.js';

const Entry = Type.Object({
  id: Type.Integer(),
  time: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  action: Type.String(),
  object_type: Type.String(),
  object_id: Type.String(),
  before: Type.Unknown(),
  after: Type.Unknown(),
  context: Type.Unknown(),
  prev_hash: Type.String(),
  hash: Type.String(),
});

const tags = ['audit'];

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.get(
    '/api/audit/',
    {
      schema: {
        tags,
        summary: 'Audit entries, newest first',
        querystring: strictObject({
          object_type: Type.Optional(Type.String()),
          object_id: Type.Optional(Type.String()),
          actor: Type.Optional(Type.String()),
          limit: Type.Optional(Limit),
          offset: Type.Optional(Offset),
        }),
        response: { 200: pageOf(Entry) },
      },
    },
    async (request) => {
      const { limit = 50, offset = 0, object_type, object_id, actor } = request.query;
      const { count, results } = await audit.list({ objectType: object_type, objectId: object_id, actor, limit, offset });
      return page(request, { limit, offset }, count, results);
    },
  );

  app.get(
    '/api/audit/verify/',
    {
      schema: {
        tags,
        summary: 'Verify the hash chain; names the first altered, removed or reordered entry',
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            checked: Type.Integer(),
            problem: Type.Union([Type.Object({ id: Type.Integer(), reason: Type.String() }), Type.Null()]),
          }),
        },
      },
    },
    async () => audit.verify(),
  );
};
