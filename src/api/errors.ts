import type { FastifyError, FastifyInstance } from 'fastify';
import { HangarError } from '../core/errors.js';
import { describeValidationError } from './validation.js';

interface ErrorReply {
  status: number;
  body: { detail: string; field?: string; request_id?: string };
}

/** The one place where errors become HTTP responses. */
function toReply(error: FastifyError | HangarError | Error): ErrorReply {
  if (error instanceof HangarError) {
    return { status: error.status, body: { detail: error.message, ...(error.field ? { field: error.field } : {}) } };
  }
  const fastifyError = error as FastifyError;
  const first = fastifyError.validation?.[0];
  if (first) {
    const { field, detail } = describeValidationError(fastifyError.validationContext ?? 'body', first);
    return { status: 400, body: { detail, field } };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { detail: `body: ${error.message}`, field: 'body' } };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { detail: 'body: request body is larger than the server accepts', field: 'body' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { detail: `unsupported content type; send application/json`, field: 'body' } };
  }
  // Fastify's own JSON parser reports syntax errors with status 400 and no code on some paths.
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return { status: 400, body: { detail: `body: ${error.message}`, field: 'body' } };
  }
  if (fastifyError.statusCode && fastifyError.statusCode < 500) {
    return { status: fastifyError.statusCode, body: { detail: error.message } };
  }
  return { status: 500, body: { detail: 'internal error; the server log has the details' } };
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = toReply(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.status(status).send({ ...body, request_id: request.id });
  });
  app.setNotFoundHandler((request, reply) => {
    const [path = '', query] = request.url.split('?', 2);
    // Django's APPEND_SLASH, which NetBox clients rely on: /api/status -> /api/status/.
    if ((request.method === 'GET' || request.method === 'HEAD') && path.startsWith('/api/') && !path.endsWith('/')) {
      void reply.redirect(`${path}/${query === undefined ? '' : `?${query}`}`, 301);
      return;
    }
    void reply.status(404).send({ detail: `no such endpoint: ${request.method} ${request.url.split('?')[0]}`, request_id: request.id });
  });
}
