import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from '../api/access.js';
import { page } from '../api/pagination.js';
import { ENGINE_VALIDATED } from '../api/validation.js';
import { InvalidError } from '../core/errors.js';
import { CONTROL_PARAMETERS } from './filters.js';
import type { Field, Resource, Row } from './model.js';
import type { Query, InventoryService } from './service.js';

type Json = Record<string, unknown>;


const MAX_PAGE = 1000;

/** Where the request came from, for absolute `url`s. */
export function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export function window(query: Query): { limit: number; offset: number; brief: boolean } {
  const number = (name: 'limit' | 'offset', fallback: number): number => {
    const raw = query[name];
    if (raw === undefined) return fallback;
    const text = Array.isArray(raw) ? raw[raw.length - 1]! : raw;
    if (!/^\d+$/.test(text)) throw new InvalidError(`query.${name}: '${text}' is not a non-negative integer`, `query.${name}`);
    return Number(text);
  };
  // NetBox: limit=0 asks for the largest page the server allows.
  const limit = Math.min(number('limit', 50) || MAX_PAGE, MAX_PAGE);
  const brief = query.brief === 'true' || query.brief === '1' || query.brief === 'True';
  return { limit, offset: number('offset', 0), brief };
}

function fieldSchema(field: Field): Json {
  switch (field.type) {
    case 'ref':
      return { oneOf: [{ type: 'integer' }, { type: 'object' }], nullable: !field.required, description: `id of a ${field.to}` };
    case 'choice':
      return { type: 'string', enum: Object.keys(field.choices), nullable: field.nullable ?? false };
    case 'integer':
      return { type: 'integer', nullable: field.nullable ?? false };
    case 'decimal':
      return { type: 'number', nullable: field.nullable ?? false };
    case 'boolean':
      return { type: 'boolean' };
    case 'date':
      return { type: 'string', format: 'date', nullable: true };
    case 'list':
      return { type: 'array', items: { type: 'string' }, maxItems: field.max };
    case 'ipv4':
      return { type: 'string', format: 'ipv4', nullable: field.nullable ?? false };
    default:
      return { type: 'string' };
  }
}

function writableSchema(resource: Resource): Json {
  const properties: Json = {};
  for (const [name, field] of Object.entries(resource.fields)) if (!field.readOnly) properties[name] = fieldSchema(field);
  if (resource.objectType !== 'extras.tag') {
    properties.tags = { type: 'array', items: { oneOf: [{ type: 'integer' }, { type: 'object' }] } };
    properties.custom_fields = { type: 'object' };
  }
  return { type: 'object', properties, additionalProperties: false };
}

/** Registers NetBox's list, detail and bulk endpoints for every resource. */
export function registerResourceRoutes(app: FastifyInstance, inventory: InventoryService, resources: readonly Resource[]): void {
  for (const resource of resources) {
    const list = `/api/${resource.path}/`;
    const detail = `/api/${resource.path}/:id/`;
    const tags = [resource.path.split('/')[0] as string];
    const item = writableSchema(resource);
    const body = { [ENGINE_VALIDATED]: true, oneOf: [item, { type: 'array', items: item }] };
    const params = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'], additionalProperties: false };
    const filterNames = [...inventory.filters(resource).keys()];
    const querystring = {
      [ENGINE_VALIDATED]: true,
      type: 'object',
      properties: Object.fromEntries([...CONTROL_PARAMETERS, ...filterNames].map((name) => [name, { type: 'string' }])),
    };
    const config = { tenantScoped: true };

    const respond = async (request: FastifyRequest, rows: Row[]) => inventory.serializer(baseUrl(request)).full(resource, rows);

    app.get(list, { config, schema: { tags, summary: `List ${resource.label}s`, querystring } }, async (request) => {
      const query = request.query as Query;
      const { limit, offset, brief } = window(query);
      const { count, rows } = await inventory.list(resource, query, principalOf(request), { limit, offset });
      const serializer = inventory.serializer(baseUrl(request));
      const exclude = new Set([query.exclude ?? []].flat());
      const results = brief ? await serializer.briefMany(resource, rows) : await serializer.full(resource, rows, exclude);
      return page(request, { limit, offset }, count, results);
    });

    // DRF's metadata: pynetbox's choices() reads the choice fields from actions.POST.
    app.options(list, { config: { ...config, access: 'read' }, schema: { tags, summary: `Fields and choices of ${resource.label}s` } }, async () => ({
      name: `${resource.label[0]!.toUpperCase()}${resource.label.slice(1)} List`,
      renders: ['application/json'],
      parses: ['application/json'],
      actions: { POST: fieldMetadata(resource) },
    }));

    app.get(detail, { config, schema: { tags, summary: `Get a ${resource.label}`, params } }, async (request) => {
      const { id } = request.params as { id: number };
      const row = await inventory.get(resource, id, principalOf(request));
      return (await respond(request, [row]))[0];
    });

    app.post(list, { config, schema: { tags, summary: `Create a ${resource.label}, or a list of them (all or none)`, body } }, async (request, reply) => {
      const input = request.body as Json | Json[];
      const items = Array.isArray(input) ? input : [input];
      const paths = Array.isArray(input) ? items.map((_, i) => `body.${i}`) : ['body'];
      const rows = await inventory.create(resource, items, principalOf(request), paths);
      const out = await respond(request, rows);
      return reply.status(201).send(Array.isArray(input) ? out : out[0]);
    });

    for (const method of ['put', 'patch'] as const) {
      const partial = method === 'patch';
      app[method](detail, { config, schema: { tags, summary: `${partial ? 'Change' : 'Replace'} a ${resource.label}`, params, body } }, async (request) => {
        const { id } = request.params as { id: number };
        if (Array.isArray(request.body)) throw new InvalidError('body: must be an object', 'body');
        const rows = await inventory.update(resource, [{ id, changes: request.body as Json, path: 'body' }], principalOf(request), partial);
        return (await respond(request, rows))[0];
      });
      app[method](list, { config, schema: { tags, summary: `${partial ? 'Change' : 'Replace'} a list of ${resource.label}s (each with its id; all or none)`, body } }, async (request) => {
        const changes = bulkItems(request.body);
        const rows = await inventory.update(resource, changes, principalOf(request), partial);
        return respond(request, rows);
      });
    }

    app.delete(detail, { config, schema: { tags, summary: `Delete a ${resource.label}`, params } }, async (request, reply) => {
      const { id } = request.params as { id: number };
      await inventory.delete(resource, [id], principalOf(request));
      return reply.status(204).send();
    });
    app.delete(list, { config, schema: { tags, summary: `Delete a list of ${resource.label}s ([{id}, ...]; all or none)`, body } }, async (request, reply) => {
      const ids = bulkItems(request.body).map((item) => item.id);
      await inventory.delete(resource, ids, principalOf(request));
      return reply.status(204).send();
    });
  }
}

function fieldMetadata(resource: Resource): Json {
  const fields: Json = {};
  for (const [name, field] of Object.entries(resource.fields)) {
    const required = field.type === 'ref' ? field.required === true : field.type === 'string' ? field.required === true : field.type === 'slug';
    fields[name] = {
      type: field.type === 'ref' ? 'field' : field.type,
      required,
      read_only: field.readOnly === true,
      label: name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()),
      ...(field.type === 'choice' ? { choices: Object.entries(field.choices).map(([value, display_name]) => ({ value, display_name })) } : {}),
    };
  }
  return fields;
}

/** A bulk body: a list of objects that each name their `id`. */
function bulkItems(body: unknown): Array<{ id: number; changes: Json; path: string }> {
  if (!Array.isArray(body)) throw new InvalidError('body: must be a list of objects with an id', 'body');
  return body.map((item: unknown, index) => {
    const path = `body.${index}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new InvalidError(`${path}: must be an object`, path);
    const { id, ...changes } = item as Json;
    if (typeof id !== 'number' || !Number.isInteger(id)) throw new InvalidError(`${path}.id: required (an integer)`, `${path}.id`);
    return { id, changes, path };
  });
}
