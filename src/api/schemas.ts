import { Type, type TProperties, type TSchema } from '@fastify/type-provider-typebox';

/** Every request object schema rejects fields it does not declare, so typos fail loudly instead of being ignored. */
export function strictObject<T extends TProperties>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
}

/** A string that must be one of `values`; reported as "must be one of a, b, c". */
export function stringEnum<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}

export const Limit = Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Page size (at most 1000)' });
export const Offset = Type.Integer({ minimum: 0, default: 0, description: 'Results to skip' });

/** NetBox's list envelope. */
export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({
    count: Type.Integer(),
    next: Type.Union([Type.String(), Type.Null()]),
    previous: Type.Union([Type.String(), Type.Null()]),
    results: Type.Array(item),
  });
}

export const ErrorBody = Type.Object(
  {
    detail: Type.String(),
    field: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
  },
  { description: 'Error: what is wrong and, when one field is at fault, its path (body.scope, query.limit)' },
);
