/**
 * Registering image files over the API: `PUT /api/boot/image-versions/{id}/files/{role}` with the file as an
 * `application/octet-stream` body, streamed to disk (never held in memory), and an optional `?sha256=` the bytes
 * must match. `hangar images add` uses it.
 */

import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import { principalOf } from '../../api/access.js';
import { IMAGE_FILE_ROLES } from '../resources.js';
import type { ImageCatalogue } from './catalogue.js';

export const imageFileRoutes: FastifyPluginAsyncTypebox<{ images: ImageCatalogue }> = async (app, { images }) => {
  // Only in this plugin: the body stays a stream for the catalogue to hash and write as it arrives.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.put(
    '/api/boot/image-versions/:id/files/:role',
    {
      config: { access: 'write' },
      schema: {
        tags: ['boot'],
        summary: 'Register a file of an image version (the body is the file; 409 if a different file is registered)',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }), role: Type.Union(IMAGE_FILE_ROLES.map((role) => Type.Literal(role))) }),
        querystring: Type.Object({ sha256: Type.Optional(Type.String({ description: 'The sha256 the file must have, hex' })) }, { additionalProperties: false }),
        consumes: ['application/octet-stream'],
      },
    },
    async (request) => {
      const { id, role } = request.params;
      const version = await images.register(id, role, request.body as Readable, request.query.sha256, principalOf(request));
      return { image_version: id, role, file: version[role], size: Number(version[`${role}_size`]), sha256: version[`${role}_sha256`] };
    },
  );
};
