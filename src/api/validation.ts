import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS with a default export: at run time the default import is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function build(coerceTypes: boolean | 'array'): Ajv {
  // The schemas are built by TypeBox and the routes, not by users: checking them against the meta-schema only costs start-up time.
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false, validateSchema: false });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are JSON and must carry the right types ("5" is not 5). Query strings and path parameters are text by
 * nature, so they are coerced to the declared type.
 */
const strictAjv = build(false);
const coercingAjv = build('array');

/** Schemas with this mark are documentation only: the inventory engine checks those inputs itself. */
export const ENGINE_VALIDATED = 'x-hangar-engine-validated';
const acceptAll = () => true;

/** Many routes share a schema (every detail route's `{id}`): compile each distinct schema once, for start-up time. */
const compiled = new Map<string, ReturnType<FastifySchemaCompiler<unknown>>>();

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if ((schema as Record<string, unknown>)[ENGINE_VALIDATED]) return acceptAll;
  const body = httpPart === 'body';
  const key = `${body ? 'strict' : 'coercing'}:${JSON.stringify(schema)}`;
  let validate = compiled.get(key);
  if (!validate) {
    validate = (body ? strictAjv : coercingAjv).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
    compiled.set(key, validate);
  }
  return validate;
};

/** Turns ajv's first error into the offending field's path and a sentence a person understands. */
export function describeValidationError(part: string, error: ErrorObject): { field: string; detail: string } {
  const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as Record<string, unknown>;
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties') {
    segments.push(String(params.additionalProperty));
    message = part === 'querystring' ? 'unknown parameter' : 'unknown field';
  } else if (error.keyword === 'required') {
    segments.push(String(params.missingProperty));
    message = 'required';
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
  }
  const prefix = part === 'querystring' ? 'query' : part;
  const field = [prefix, ...segments].join('.');
  return { field, detail: `${field}: ${message}` };
}
