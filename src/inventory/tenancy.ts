import { commonFields, type Resource } from './model.js';

const { name, slug, description, comments } = commonFields;

/** NetBox's tenancy and extras objects that everything else refers to. */

export const tenant: Resource = {
  objectType: 'tenancy.tenant',
  path: 'tenancy/tenants',
  table: 'tenancy_tenants',
  label: 'tenant',
  fields: { name: { ...name, unique: true }, slug, description, comments },
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
  fields: { name: { ...name, unique: true }, slug, color: { type: 'color' }, description },
  brief: ['name', 'slug', 'color'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};
