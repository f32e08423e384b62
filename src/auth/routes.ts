import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../api/access.js';
import { ErrorBody, strictObject, stringEnum } from '../api/schemas.js';
import { SCOPES } from './token.js';
import type { TokenService } from './service.js';

const ScopeSchema = stringEnum(SCOPES);

const TokenView = Type.Object({
  id: Type.Integer(),
  key_prefix: Type.String(),
  scope: ScopeSchema,
  tenant: Type.Union([Type.String(), Type.Null()]),
  description: Type.String(),
  created: Type.String({ format: 'date-time' }),
  expires: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CreateToken = strictObject({
  scope: ScopeSchema,
  tenant: Type.Optional(Type.Union([Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 100 }), Type.Null()])),
  expires: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  description: Type.Optional(Type.String({ maxLength: 200 })),
});

const tags = ['tokens'];

export const tokenRoutes: FastifyPluginAsyncTypebox<{ tokens: TokenService }> = async (app, { tokens }) => {
  app.get(
    '/api/tokens/',
    { config: { access: 'admin' }, schema: { tags, summary: 'List API tokens (never their secrets)', response: { 200: Type.Array(TokenView) } } },
    async () => tokens.list(),
  );

  app.post(
    '/api/tokens/',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create an API token; the secret is in this response only',
        body: CreateToken,
        response: { 201: Type.Object({ token: Type.String(), record: TokenView }), 400: ErrorBody },
      },
    },
    async (request, reply) => {
      const created = await tokens.create(request.body, principalOf(request).actor);
      return reply.status(201).send(created);
    },
  );

  app.delete(
    '/api/tokens/:id/',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Revoke an API token', params: strictObject({ id: Type.Integer({ minimum: 1 }) }), response: { 204: Type.Null(), 404: ErrorBody } },
    },
    async (request, reply) => {
      await tokens.revoke(request.params.id, principalOf(request).actor);
      return reply.status(204).send(null);
    },
  );
};
