import type { Resource } from './model.js';

/** NetBox's tenancy and extras objects that everything else refers to. */

export const tenant: Resource = {
  objectType: 'tenancy.tenant',
  path: 'tenancy/tenants',
  table: 'tenancy_tenants',
  label: 'tenant',
  fields: {
    name: { type: 'string', max: 100, required: true, unique: true, search: true },
    slug: { type: 'slug', unique: true, search: true },
    description: { type: 'string', max: 200, search: true },
    comments: { type: 'string', max: 100_000 },
  },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};

export const tag: Resource = {
  objectType: 'extras.tag',
  path: 'extras/tags',
  table: 'extras_tags',
  label: 'tag',
  fields: {
    name: { type: 'string', max: 100, required: true, unique: true, search: true },
    slug: { type: 'slug', unique: true, search: true },
    color: { type: 'color' },
    description: { type: 'string', max: 200, search: true },
  },
  brief: ['name', 'slug', 'color'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};
