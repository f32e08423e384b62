import { commonFields, type Resource } from '../inventory/model.js';

/** Reactors: an event pattern that launches a job template, with a cooldown against loops. */
export const reactor: Resource = {
  objectType: 'extras.reactor',
  path: 'extras/reactors',
  table: 'extras_reactors',
  label: 'reactor',
  fields: {
    name: { type: 'string', max: 100, required: true, search: true, unique: true },
    event: { type: 'string', max: 200, required: true, pattern: '^[a-z0-9_.*-]+$' },
    subject: { type: 'string', max: 200 },
    job: { type: 'string', max: 100, required: true },
    enabled: { type: 'boolean', default: true },
    cooldown: { type: 'integer', min: 0, max: 86_400, default: 60 },
    description: commonFields.description,
  },
  brief: ['name', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};
