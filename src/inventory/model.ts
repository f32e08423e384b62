import type { Kysely } from 'kysely';
import { InvalidError } from '../core/errors.js';
import { formatAddress, parseAddress } from '../core/net/index.js';
import type { Principal } from '../auth/principal.js';
import type { LockName, Tx } from '../store/store.js';

/**
 * The declarative model of a NetBox-shaped resource. Each resource (site, device, prefix, ...) is one declaration;
 * the engine derives its request validation, filters, serializers, OpenAPI entries and write rules from it, so
 * the API, the CLI and the docs never disagree about a field.
 */

/** `{value: label}` of a choice field, in NetBox's order. */
export type Choices = Readonly<Record<string, string>>;

interface FieldBase {
  /** Column name; defaults to the field name (`<name>_id` for references). */
  column?: string;
  /** Part of `q=` free-text search. */
  search?: boolean;
  /** No other object of this type may have the same value. */
  unique?: boolean;
  /** Set by the engine's hooks, never by the client (for example a prefix's family). */
  readOnly?: boolean;
}

export type Field = FieldBase &
  (
    | { type: 'string'; max: number; required?: boolean; nullable?: boolean; pattern?: string; lowercase?: boolean }
    | { type: 'slug' }
    | { type: 'integer'; min?: number; max?: number; nullable?: boolean; default?: number }
    | { type: 'decimal'; min?: number; max?: number; nullable?: boolean; default?: number }
    | { type: 'boolean'; default: boolean }
    | { type: 'date' }
    | { type: 'choice'; choices: Choices; default?: string; nullable?: boolean }
    | { type: 'ref'; to: string; required?: boolean; onDelete?: 'protect' | 'cascade' | 'null' }
    | { type: 'mac' }
    | { type: 'color' }
    | { type: 'ipv4'; nullable?: boolean }
    | { type: 'list'; item: ListItem; max: number }
  );

/** What each element of a list field holds; lists are stored as JSON text. */
export type ListItem = 'ipv4' | 'ipv4-range' | 'text';

export type FieldType = Field['type'];

/** A row as stored: column name to value. */
export type Row = Record<string, unknown> & { id: number };

/** Filter values as they come from the query string: every parameter may repeat. */
export type FilterValues = readonly string[];

/** A query on one table, for custom filters. */
export interface FilterTarget {
  table: string;
  /** Adds a SQL condition. */
  where(condition: FilterCondition): void;
}

export type FilterCondition =
  | { kind: 'in'; column: string; values: readonly unknown[]; negate?: boolean }
  | { kind: 'compare'; column: string; op: '<' | '<=' | '>' | '>='; value: unknown }
  | { kind: 'subquery'; column: string; table: string; select: string; conditions: FilterCondition[]; negate?: boolean }
  | { kind: 'any'; conditions: FilterCondition[] }
  | { kind: 'all'; conditions: FilterCondition[] }
  | { kind: 'like'; column: string; pattern: string; negate?: boolean }
  | { kind: 'null'; column: string; negate?: boolean };

export interface CustomFilter {
  description: string;
  /** Turns the filter's values into conditions; throws InvalidError naming the filter on a bad value. */
  apply(values: FilterValues, name: string): FilterCondition[] | Promise<FilterCondition[]>;
}

export interface WriteContext {
  tx: Tx;
  db: Kysely<DynamicDatabase>;
  principal: Principal;
  /** Resolves a reference to an object the principal's tenant owns (or any, for an unrestricted principal); 400 otherwise. */
  reference(objectType: string, value: unknown, at: string): Promise<number>;
}

export interface Resource {
  /** Singular API name, also the object type in audit entries and events: `dcim.device`. */
  objectType: string;
  /** Path under /api/: `dcim/devices`. */
  path: string;
  table: string;
  /** Human name for messages: `device`. */
  label: string;
  fields: Readonly<Record<string, Field>>;
  /** Field names of the brief form, besides id, url and display. */
  brief: readonly string[];
  /** Computed fields of the brief form (an IP address's family). */
  briefExtra?(row: Row): Record<string, unknown>;
  display(row: Row): string;
  /** Field sets that must be unique together, like an interface's device and name. */
  uniqueTogether?: ReadonlyArray<readonly string[]>;
  /** How a tenant-restricted token's tenant applies: by the `tenant` field, through a parent, or not at all. */
  tenancy: { kind: 'field' } | { kind: 'parent'; field: string } | { kind: 'shared' };
  /**
   * Locks every write of this resource takes first. Taking them at the start of the transaction keeps one lock
   * order everywhere (resource locks, then the journal), so concurrent transactions cannot deadlock.
   */
  locks?: readonly LockName[];
  /** Derives stored columns from the merged object (normalisation, IP keys) and checks cross-field rules. */
  prepare?(row: Record<string, unknown>, context: WriteContext, existing: Row | null, path: string): Promise<void> | void;
  /** Runs after the row is written, in the same transaction (for example IPAM's used-address index). */
  afterWrite?(row: Row, existing: Row | null, context: WriteContext): Promise<void>;
  afterDelete?(row: Row, context: WriteContext): Promise<void>;
  /** Extra fields of the full representation, computed from the row. */
  extra?(row: Row, context: SerializeContext): Promise<Record<string, unknown>> | Record<string, unknown>;
  filters?: Readonly<Record<string, CustomFilter>>;
  /** References to objects of several types (an IP address's assigned object): cleared when the object goes. */
  polymorphicRefs?: ReadonlyArray<{ typeField: string; idField: string; types: readonly string[] }>;
  /** Columns that hooks derive and store but the client never writes (a prefix's family and index keys). */
  derivedColumns?: readonly string[];
  /** Default ordering columns. */
  ordering: readonly string[];
}

export interface SerializeContext {
  db: Kysely<DynamicDatabase>;
  /** `http://host:port`, for absolute `url`s. */
  base: string;
  /** Serialises a reference to another resource in brief form. */
  brief(objectType: string, id: number | null | undefined): Promise<Record<string, unknown> | null>;
}

/** The engine works on tables named at run time; rows are plain records. */
export type DynamicDatabase = Record<string, Record<string, unknown>>;

export function choice(choices: Choices, value: unknown): { value: string; label: string } | null {
  if (value === null || value === undefined) return null;
  const key = String(value);
  return { value: key, label: choices[key] ?? key };
}

/** The fields most NetBox objects share, declared once. */
export const commonFields = {
  name: { type: 'string', max: 100, required: true, search: true },
  slug: { type: 'slug', unique: true, search: true },
  description: { type: 'string', max: 200, search: true },
  comments: { type: 'string', max: 100_000 },
  tenant: { type: 'ref', to: 'tenancy.tenant' },
} as const satisfies Record<string, Field>;

/** The stored value of a field a create leaves out; undefined when the field is required. */
export function columnDefault(field: Field): unknown {
  switch (field.type) {
    case 'choice':
      return field.default ?? (field.nullable ? null : undefined);
    case 'boolean':
      return field.default ? 1 : 0;
    case 'integer':
    case 'decimal':
      return field.default ?? (field.nullable ? null : undefined);
    case 'string':
      return field.required ? undefined : field.nullable ? null : '';
    case 'ref':
      return field.required ? undefined : null;
    case 'mac':
    case 'date':
    case 'ipv4':
      return null;
    case 'list':
      return '[]';
    case 'color':
      return '9e9e9e';
    case 'slug':
      return undefined;
  }
}

/** A stored column value as the API shows it (references and choices aside: they need more than the column). */
export function readColumn(field: Field, raw: unknown): string | number | boolean | null | string[] {
  if (field.type === 'list') return JSON.parse(String(raw ?? '[]')) as string[];
  if (raw === null || raw === undefined) return null;
  switch (field.type) {
    case 'boolean':
      return Boolean(raw);
    case 'integer':
    case 'decimal':
      return Number(raw);
    default:
      return String(raw);
  }
}

/** A field a create must give: it has no default. */
export function isRequired(field: Field): boolean {
  return columnDefault(field) === undefined;
}

/** `192.0.2.1` in canonical form; InvalidError naming `at` otherwise. */
export function normalizeIpv4(value: unknown, at: string): string {
  if (typeof value !== 'string') throw new InvalidError(`${at}: must be an IPv4 address`, at);
  const address = parseAddress(value, at);
  if (address.family !== 4) throw new InvalidError(`${at}: '${value}' is not an IPv4 address`, at);
  return formatAddress(address);
}

/** One element of a list field, checked and in canonical form. */
export function normalizeListItem(kind: ListItem, item: unknown, at: string): string {
  switch (kind) {
    case 'ipv4':
      return normalizeIpv4(item, at);
    case 'ipv4-range': {
      const [start, end, ...rest] = typeof item === 'string' ? item.split('-') : [];
      if (start === undefined || end === undefined || rest.length > 0) throw new InvalidError(`${at}: must be a range 'FIRST-LAST' of IPv4 addresses`, at);
      const first = normalizeIpv4(start.trim(), at);
      const last = normalizeIpv4(end.trim(), at);
      if (parseAddress(last).value < parseAddress(first).value) throw new InvalidError(`${at}: ${last} comes before ${first}`, at);
      return `${first}-${last}`;
    }
    case 'text':
      if (typeof item !== 'string' || item.length > 1000) throw new InvalidError(`${at}: must be a string of at most 1000 characters`, at);
      return item;
  }
}
