import { sql, type Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.js';
import type { Principal } from '../auth/principal.js';
import type { Clock } from '../core/clock.js';
import { ConflictError, ForbiddenError, InvalidError, NotFoundError } from '../core/errors.js';
import { normalizeMac } from '../core/net/index.js';
import type { EventLog } from '../events/log.js';
import type { Store, Tx } from '../store/store.js';
import { filtersFor, parseFilters, whereSql } from './filters.js';
import { columnDefault, isRequired, normalizeIpv4, normalizeListItem, type CustomFilter, type DynamicDatabase, type Field, type FilterCondition, type Resource, type Row, type WriteContext } from './model.js';
import { columnOf, hasTags, type ResourceRegistry } from './registry.js';
import { Serializer } from './serializer.js';

type Json = Record<string, unknown>;
export type Query = Record<string, string | string[] | undefined>;

const SLUG = /^[-a-zA-Z0-9_]{1,100}$/;
const COLOR = /^[0-9a-f]{6}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The use cases of every NetBox-shaped resource: list with filters, get, and create, update and delete of one
 * object or a list (all or none), each in one transaction with its audit entries and events, within the
 * principal's tenant.
 */
export class InventoryService {
  private readonly filterSets = new Map<string, Map<string, CustomFilter>>();
  private readonly db: Kysely<DynamicDatabase>;

  constructor(
    private readonly store: Store,
    private readonly registry: ResourceRegistry,
    private readonly audit: AuditLog,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {
    this.db = store.db as unknown as Kysely<DynamicDatabase>;
  }

  filters(resource: Resource): Map<string, CustomFilter> {
    let set = this.filterSets.get(resource.objectType);
    if (!set) this.filterSets.set(resource.objectType, (set = filtersFor(this.registry, resource)));
    return set;
  }

  serializer(base: string, db: Kysely<DynamicDatabase> = this.db): Serializer {
    return new Serializer(this.registry, db, base);
  }

  /** The tenant id a restricted principal is confined to (null: unrestricted). */
  private async tenantId(principal: Principal, db: Kysely<DynamicDatabase> = this.db): Promise<number | null> {
    if (principal.tenant === null) return null;
    const row = await db.selectFrom('tenancy_tenants').select('id').where('slug', '=', principal.tenant).executeTakeFirst();
    // A token for a tenant that does not exist (yet) sees nothing: -1 matches no row.
    return row ? Number(row.id) : -1;
  }

  /** Conditions that confine a query to the principal's tenant. */
  async tenancyConditions(resource: Resource, principal: Principal, db: Kysely<DynamicDatabase> = this.db): Promise<FilterCondition[]> {
    const tenantId = await this.tenantId(principal, db);
    if (tenantId === null) return [];
    const tenancy = resource.tenancy;
    if (tenancy.kind === 'field') return [{ kind: 'in', column: 'tenant_id', values: [tenantId] }];
    if (tenancy.kind === 'parent') {
      const field = resource.fields[tenancy.field];
      if (field?.type !== 'ref') throw new Error(`${resource.objectType}: tenancy parent ${tenancy.field} is not a reference`);
      const parent = this.registry.get(field.to);
      return [{ kind: 'subquery', column: columnOf(tenancy.field, field), table: parent.table, select: 'id', conditions: await this.tenancyConditions(parent, principal, db) }];
    }
    return [];
  }

  async list(
    resource: Resource,
    query: Query,
    principal: Principal,
    window: { limit: number; offset: number },
    extraConditions: FilterCondition[] = [],
  ): Promise<{ count: number; rows: Row[] }> {
    const conditions = [
      ...(await parseFilters(this.filters(resource), query)),
      ...(await this.tenancyConditions(resource, principal)),
      ...extraConditions,
    ];
    const where = whereSql(conditions, resource.table);
    // One pass over the matches: the window count rides along with the page.
    let select = this.db.selectFrom(resource.table).selectAll().select(sql<number>`count(*) over ()`.as('__count')).where(where);
    for (const { column, desc } of this.ordering(resource, query.ordering)) select = select.orderBy(sql.ref(`${resource.table}.${column}`), desc ? 'desc' : 'asc');
    const page = await select.orderBy(sql.ref(`${resource.table}.id`)).limit(window.limit).offset(window.offset).execute();
    let count = Number(page[0]?.__count ?? 0);
    if (page.length === 0 && window.offset > 0) {
      // Past the end: the page carries no count, so ask for it.
      const counted = await this.db.selectFrom(resource.table).select(sql<number>`count(*)`.as('count')).where(where).executeTakeFirstOrThrow();
      count = Number(counted.count);
    }
    const rows = page.map(({ __count: _count, ...row }) => row as Row);
    return { count, rows };
  }

  private ordering(resource: Resource, ordering: string | string[] | undefined): Array<{ column: string; desc: boolean }> {
    if (ordering === undefined) return resource.ordering.map((column) => ({ column, desc: false }));
    const names = (Array.isArray(ordering) ? ordering : [ordering]).flatMap((o) => o.split(',')).filter(Boolean);
    return names.map((name) => {
      const desc = name.startsWith('-');
      const bare = desc ? name.slice(1) : name;
      const field = resource.fields[bare];
      if (bare !== 'id' && !field) throw new InvalidError(`query.ordering: '${bare}' is not a field of ${resource.label}s`, 'query.ordering');
      return { column: field ? columnOf(bare, field) : 'id', desc };
    });
  }

  /** One object the principal may see, or 404. */
  async get(resource: Resource, id: number, principal: Principal, db: Kysely<DynamicDatabase> = this.db): Promise<Row> {
    const conditions: FilterCondition[] = [{ kind: 'in', column: 'id', values: [id] }, ...(await this.tenancyConditions(resource, principal, db))];
    const row = (await db.selectFrom(resource.table).selectAll().where(whereSql(conditions, resource.table)).executeTakeFirst()) as Row | undefined;
    if (!row) throw new NotFoundError(`${resource.label} ${id} does not exist`);
    return row;
  }

  /** Creates objects, all or none. `path` prefixes field names in errors (`body`, `body.3`). */
  async create(resource: Resource, items: Json[], principal: Principal, paths: string[]): Promise<Row[]> {
    return this.store.transaction(async (tx) => {
      const rows: Row[] = [];
      for (const [index, item] of items.entries()) rows.push(await this.createIn(tx, resource, item, principal, paths[index] ?? 'body'));
      return rows;
    });
  }

  /** Creates one object inside a caller's transaction (IPAM allocation uses this). */
  async createIn(tx: Tx, resource: Resource, item: Json, principal: Principal, path: string): Promise<Row> {
    await this.lockFor(tx, resource);
    const context = this.context(tx, principal);
    const { columns, tags } = await this.columnsFrom(resource, item, null, context, path);
    const now = this.clock.now().toISOString();
    const values = { ...columns, created: now, last_updated: now };
    const row = (await context.db.insertInto(resource.table).values(values).returningAll().executeTakeFirstOrThrow()) as Row;
    if (tags) await this.setTags(context.db, resource, Number(row.id), tags);
    await resource.afterWrite?.(row, null, context);
    await this.record(tx, resource, 'create', principal, null, row, tags);
    return row;
  }

  async update(resource: Resource, items: Array<{ id: number; changes: Json; path: string }>, principal: Principal, partial: boolean): Promise<Row[]> {
    return this.store.transaction(async (tx) => {
      const rows: Row[] = [];
      for (const { id, changes, path } of items) rows.push(await this.updateIn(tx, resource, id, changes, principal, path, partial));
      return rows;
    });
  }

  /** Updates one object inside a caller's transaction (fleet apply uses this). */
  async updateIn(tx: Tx, resource: Resource, id: number, changes: Json, principal: Principal, path: string, partial: boolean): Promise<Row> {
    await this.lockFor(tx, resource);
    const context = this.context(tx, principal);
    const existing = await this.get(resource, id, principal, context.db);
    const { columns, tags } = await this.columnsFrom(resource, changes, existing, context, path, partial);
    const row = await this.updateRow(context, resource, id, columns);
    if (tags) await this.setTags(context.db, resource, id, tags);
    await resource.afterWrite?.(row, existing, context);
    await this.record(tx, resource, 'update', principal, existing, row, tags);
    return row;
  }

  /**
   * Writes read-only columns the server itself derives (an image file's size and checksum once it is registered),
   * with an audit entry and an event like any other update. The caller holds the resource's locks.
   */
  async setDerivedIn(tx: Tx, resource: Resource, id: number, columns: Json, principal: Principal): Promise<Row> {
    for (const name of Object.keys(columns)) {
      if (!resource.fields[name]?.readOnly) throw new Error(`${resource.objectType}.${name} is not a read-only field`);
    }
    const context = this.context(tx, principal);
    const existing = await this.get(resource, id, principal, context.db);
    const row = await this.updateRow(context, resource, id, columns);
    await this.record(tx, resource, 'update', principal, existing, row, null);
    return row;
  }

  private async updateRow(context: WriteContext, resource: Resource, id: number, columns: Json): Promise<Row> {
    return (await context.db
      .updateTable(resource.table)
      .set({ ...columns, last_updated: this.clock.now().toISOString() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()) as Row;
  }

  async delete(resource: Resource, ids: number[], principal: Principal): Promise<void> {
    await this.store.transaction(async (tx) => {
      for (const id of ids) await this.deleteIn(tx, resource, id, principal);
    });
  }

  /** Deletes one object (with what cascades from it) inside a caller's transaction. */
  async deleteIn(tx: Tx, resource: Resource, id: number, principal: Principal): Promise<void> {
    // Deleting an object may clear or cascade to others: take every resource lock, in the one order.
    await this.lockFor(tx, ...this.registry.all());
    const context = this.context(tx, principal);
    await this.deleteRow(resource, await this.get(resource, id, principal, context.db), context);
  }

  /**
   * Resource locks first, then the journal lock that every audited write takes anyway: taken up front it also
   * makes the uniqueness checks race-free across processes, and keeps one lock order everywhere (no deadlocks).
   */
  async lockFor(tx: Tx, ...resources: Resource[]): Promise<void> {
    for (const resource of resources) for (const name of resource.locks ?? []) await tx.lock(name);
    await tx.lock('journal');
  }

  private async deleteRow(resource: Resource, row: Row, context: WriteContext): Promise<void> {
    const id = Number(row.id);
    this.checkTenantWrite(resource, context.principal);
    for (const ref of this.registry.referencesTo(resource.objectType)) {
      const column = columnOf(ref.name, ref.field);
      const dependents = (await context.db.selectFrom(ref.resource.table).selectAll().where(column, '=', id).execute()) as Row[];
      if (dependents.length === 0) continue;
      const onDelete = ref.field.onDelete ?? 'protect';
      if (onDelete === 'protect') {
        throw new ConflictError(
          `cannot delete ${resource.label} '${resource.display(row)}': ${dependents.length} ${ref.resource.label}(s) refer to it through ${ref.name} (for example ${ref.resource.label} ${dependents[0]!.id})`,
        );
      }
      for (const dependent of dependents) {
        if (onDelete === 'cascade') await this.deleteRow(ref.resource, dependent, context);
        else await this.clearIn(ref.resource, dependent, { [column]: null }, context);
      }
    }
    for (const ref of this.registry.polymorphicReferencesTo(resource.objectType)) {
      const typeColumn = ref.typeField;
      const idColumn = ref.idField;
      const dependents = (await context.db.selectFrom(ref.resource.table).selectAll().where(typeColumn, '=', resource.objectType).where(idColumn, '=', id).execute()) as Row[];
      for (const dependent of dependents) await this.clearIn(ref.resource, dependent, { [typeColumn]: null, [idColumn]: null }, context);
    }
    if (hasTags(resource)) {
      await context.db.deleteFrom('extras_tagged_items').where('object_type', '=', resource.objectType).where('object_id', '=', id).execute();
    } else {
      const used = await context.db.selectFrom('extras_tagged_items').select('object_type').where('tag_id', '=', id).executeTakeFirst();
      if (used) throw new ConflictError(`cannot delete ${resource.label} '${resource.display(row)}': objects are tagged with it`);
    }
    await context.db.deleteFrom(resource.table).where('id', '=', id).execute();
    await resource.afterDelete?.(row, context);
    await this.record(context.tx, resource, 'delete', context.principal, row, null, null);
  }

  /** Clears references on a dependent object, audited like any other change. */
  private async clearIn(resource: Resource, row: Row, columns: Json, context: WriteContext): Promise<void> {
    const updated = (await context.db
      .updateTable(resource.table)
      .set({ ...columns, last_updated: this.clock.now().toISOString() })
      .where('id', '=', Number(row.id))
      .returningAll()
      .executeTakeFirstOrThrow()) as Row;
    await this.record(context.tx, resource, 'update', context.principal, row, updated, null);
  }

  private context(tx: Tx, principal: Principal): WriteContext {
    const context: WriteContext = {
      tx,
      db: tx.db as unknown as Kysely<DynamicDatabase>,
      principal,
      reference: (objectType, value, at) => this.resolveRef(this.registry.get(objectType), value, at, context, true),
    };
    return context;
  }

  private async record(tx: Tx, resource: Resource, action: 'create' | 'update' | 'delete', principal: Principal, before: Row | null, after: Row | null, tags: number[] | null): Promise<void> {
    const id = Number((after ?? before)!.id);
    const withTags = (row: Row | null) => (row && tags ? { ...row, tags } : row);
    await this.audit.append(tx, { actor: principal.actor, action, objectType: resource.objectType, objectId: id, before, after: withTags(after), context: principal.via });
    const past = { create: 'created', update: 'updated', delete: 'deleted' }[action];
    await this.events.append(tx, {
      type: `${resource.objectType}.${past}`,
      subject: `${resource.objectType}:${id}`,
      actor: principal.actor,
      data: { display: resource.display((after ?? before)!) },
    });
  }

  private checkTenantWrite(resource: Resource, principal: Principal): void {
    if (principal.tenant !== null && resource.tenancy.kind === 'shared') {
      throw new ForbiddenError(`this token is restricted to tenant '${principal.tenant}' and may not change ${resource.label}s`);
    }
  }

  /** Checks and converts a client's object into columns. Unknown, read-only and ill-typed fields are 400s. */
  private async columnsFrom(
    resource: Resource,
    input: Json,
    existing: Row | null,
    context: WriteContext,
    path: string,
    partial = false,
  ): Promise<{ columns: Json; tags: number[] | null }> {
    this.checkTenantWrite(resource, context.principal);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidError(`${path}: must be an object`, path);
    const columns: Json = {};
    let tags: number[] | null = null;
    for (const [name, value] of Object.entries(input)) {
      const at = `${path}.${name}`;
      if (name === 'id' || name === 'url' || name === 'display' || name === 'created' || name === 'last_updated') continue;
      if (name === 'tags' && hasTags(resource)) {
        tags = await this.tagIds(value, at, context.db);
        continue;
      }
      if (name === 'custom_fields' && hasTags(resource)) {
        columns.custom_fields = JSON.stringify({ ...JSON.parse(String(existing?.custom_fields ?? '{}')), ...this.customFields(value, at) });
        continue;
      }
      const field = resource.fields[name];
      if (!field) throw new InvalidError(`${at}: unknown field`, at);
      if (field.readOnly) throw new InvalidError(`${at}: read-only`, at);
      const decidesTenant = resource.tenancy.kind === 'parent' && resource.tenancy.field === name;
      columns[columnOf(name, field)] = await this.convert(field, value, at, context, decidesTenant);
    }
    const merged: Json = { ...(existing ?? {}), ...columns };
    for (const [name, field] of Object.entries(resource.fields)) {
      const column = columnOf(name, field);
      if (merged[column] !== undefined || field.readOnly) continue;
      const fallback = columnDefault(field);
      if (fallback === undefined) {
        if (!existing && !partial && isRequired(field)) throw new InvalidError(`${path}.${name}: required`, `${path}.${name}`);
      } else if (!existing) {
        merged[column] = fallback;
      }
    }
    if (existing && !partial) {
      // PUT replaces the object: every required field must be in the request, as with a create.
      for (const [name, field] of Object.entries(resource.fields)) {
        if (isRequired(field) && !field.readOnly && !(name in input)) throw new InvalidError(`${path}.${name}: required`, `${path}.${name}`);
      }
    }
    await this.checkTenancy(resource, merged, existing, context, path);
    await resource.prepare?.(merged, context, existing, path);
    await this.checkUnique(resource, merged, existing, context.db, path);
    const { id: _id, created: _c, last_updated: _u, ...writable } = merged;
    if (!hasTags(resource)) delete writable.custom_fields;
    else writable.custom_fields ??= '{}';
    return { columns: writable, tags };
  }

  private async convert(field: Field, value: unknown, at: string, context: WriteContext, ownTenant: boolean): Promise<unknown> {
    const nullable = field.type === 'ref' ? !field.required : field.type === 'string' ? !field.required : !isRequired(field);
    if (value === null) {
      if (field.type === 'string' && !field.nullable) {
        if (field.required) throw new InvalidError(`${at}: may not be null`, at);
        return '';
      }
      if (!nullable) throw new InvalidError(`${at}: may not be null`, at);
      return null;
    }
    switch (field.type) {
      case 'string':
      case 'slug':
      case 'color': {
        if (typeof value !== 'string') throw new InvalidError(`${at}: must be a string`, at);
        if (field.type === 'slug' && !SLUG.test(value)) throw new InvalidError(`${at}: '${value}' is not a slug (letters, digits, - and _, at most 100)`, at);
        if (field.type === 'color' && !COLOR.test(value)) throw new InvalidError(`${at}: '${value}' is not a colour (six lower-case hex digits)`, at);
        if (field.type === 'string') {
          if (value.length > field.max) throw new InvalidError(`${at}: longer than ${field.max} characters`, at);
          if (field.required && value.trim() === '') throw new InvalidError(`${at}: may not be blank`, at);
          if (field.pattern && !new RegExp(field.pattern).test(value)) throw new InvalidError(`${at}: '${value}' does not match ${field.pattern}`, at);
          if (field.nullable && value === '') return null;
        }
        return value;
      }
      case 'integer':
      case 'decimal': {
        const n = typeof value === 'string' && value.trim() !== '' && field.type === 'decimal' ? Number(value) : value;
        if (typeof n !== 'number' || !Number.isFinite(n) || (field.type === 'integer' && !Number.isInteger(n))) {
          throw new InvalidError(`${at}: must be ${field.type === 'integer' ? 'an integer' : 'a number'}`, at);
        }
        if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max)) {
          throw new InvalidError(`${at}: must be between ${field.min ?? '-inf'} and ${field.max ?? 'inf'}`, at);
        }
        return n;
      }
      case 'boolean':
        if (typeof value !== 'boolean') throw new InvalidError(`${at}: must be true or false`, at);
        return value ? 1 : 0;
      case 'date':
        if (typeof value !== 'string' || !isCalendarDate(value)) {
          throw new InvalidError(`${at}: must be a date (YYYY-MM-DD)`, at);
        }
        return value;
      case 'choice': {
        const key = typeof value === 'object' && value !== null && 'value' in value ? (value as { value: unknown }).value : value;
        if (typeof key !== 'string' || !(key in field.choices)) {
          throw new InvalidError(`${at}: '${String(key)}' is not one of ${Object.keys(field.choices).join(', ')}`, at);
        }
        return key;
      }
      case 'mac':
        if (typeof value !== 'string') throw new InvalidError(`${at}: must be a string`, at);
        if (value === '') return null;
        return normalizeMac(value, at);
      case 'ref':
        return this.resolveRef(this.registry.get(field.to), value, at, context, ownTenant);
      case 'ipv4':
        return normalizeIpv4(value, at);
      case 'list': {
        if (!Array.isArray(value)) throw new InvalidError(`${at}: must be a list`, at);
        if (value.length > field.max) throw new InvalidError(`${at}: at most ${field.max} items`, at);
        return JSON.stringify(value.map((item, index) => normalizeListItem(field.item, item, `${at}.${index}`)));
      }
    }
  }

  /**
   * A reference given as an id, `{id}`, or `{slug}` / `{name}` / `{model}` (NetBox's nested look-up), which must exist
   * and be visible to the principal. `ownTenant`: the object must be the principal's tenant's own, not a shared one
   * (the parent that decides a child's tenant).
   */
  private async resolveRef(target: Resource, value: unknown, at: string, context: WriteContext, ownTenant = false): Promise<number> {
    const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
    let conditions: FilterCondition[];
    if (isId(value)) conditions = [{ kind: 'in', column: 'id', values: [value] }];
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const lookup = Object.entries(value as Json).filter(([key]) => key === 'id' || (['slug', 'name', 'model'].includes(key) && key in target.fields));
      if (lookup.length === 0) throw new InvalidError(`${at}: give an id, or an object with id or another unique field of the ${target.label}`, at);
      for (const [key, v] of lookup) {
        if (key === 'id' ? !isId(v) : typeof v !== 'string') throw new InvalidError(`${at}.${key}: must be ${key === 'id' ? 'a positive integer' : 'a string'}`, `${at}.${key}`);
      }
      conditions = lookup.map(([key, v]) => ({ kind: 'in', column: key, values: [v] }));
    } else {
      throw new InvalidError(`${at}: must be the id of a ${target.label}`, at);
    }
    const visible = await this.tenancyConditions(target, context.principal, context.db);
    // A restricted principal may also use objects that belong to no tenant (shared sites, for example).
    const where =
      target.tenancy.kind === 'field' && visible.length > 0 && !ownTenant ? [{ kind: 'any', conditions: [...visible, { kind: 'null', column: 'tenant_id' }] } as FilterCondition] : visible;
    const rows = await context.db.selectFrom(target.table).select('id').where(whereSql([...conditions, ...where], target.table)).limit(2).execute();
    if (rows.length !== 1) throw new InvalidError(`${at}: no ${target.label} matches ${JSON.stringify(value)}`, at);
    return Number(rows[0]!.id);
  }

  private async tagIds(value: unknown, at: string, db: Kysely<DynamicDatabase>): Promise<number[]> {
    if (!Array.isArray(value)) throw new InvalidError(`${at}: must be a list of tags`, at);
    const tag = this.registry.get('extras.tag');
    const ids: number[] = [];
    for (const [index, item] of value.entries()) {
      const entries: Array<[string, unknown]> =
        typeof item === 'number' ? [['id', item]] : typeof item === 'string' ? [['slug', item]] : typeof item === 'object' && item !== null ? Object.entries(item as Json) : [];
      const lookup = entries.filter(([key, v]) => (key === 'id' ? typeof v === 'number' && Number.isSafeInteger(v) && v > 0 : ['slug', 'name'].includes(key) && typeof v === 'string'));
      const where: FilterCondition[] = lookup.map(([key, v]) => ({ kind: 'in', column: key, values: [v] }));
      if (where.length === 0 || lookup.length !== entries.filter(([key]) => ['id', 'slug', 'name'].includes(key)).length) throw new InvalidError(`${at}.${index}: give a tag id or an object with id, slug or name`, `${at}.${index}`);
      const row = await db.selectFrom(tag.table).select('id').where(whereSql(where, tag.table)).executeTakeFirst();
      if (!row) throw new InvalidError(`${at}.${index}: no tag matches ${JSON.stringify(item)}`, `${at}.${index}`);
      ids.push(Number(row.id));
    }
    return [...new Set(ids)];
  }

  private customFields(value: unknown, at: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidError(`${at}: must be an object`, at);
    for (const [key, v] of Object.entries(value)) {
      if (!/^[a-z][a-z0-9_]{0,49}$/.test(key)) throw new InvalidError(`${at}.${key}: custom field names are lower-case identifiers`, `${at}.${key}`);
      if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) throw new InvalidError(`${at}.${key}: must be a string, number, boolean or null`, `${at}.${key}`);
    }
    return value as Json;
  }

  private async setTags(db: Kysely<DynamicDatabase>, resource: Resource, id: number, tags: number[]): Promise<void> {
    await db.deleteFrom('extras_tagged_items').where('object_type', '=', resource.objectType).where('object_id', '=', id).execute();
    if (tags.length > 0) {
      await db.insertInto('extras_tagged_items').values(tags.map((tag_id) => ({ object_type: resource.objectType, object_id: id, tag_id }))).execute();
    }
  }

  private async checkTenancy(resource: Resource, merged: Json, existing: Row | null, context: WriteContext, path: string): Promise<void> {
    const tenantId = await this.tenantId(context.principal, context.db);
    if (tenantId === null || resource.tenancy.kind !== 'field') return;
    if (merged.tenant_id === null || merged.tenant_id === undefined) {
      if (existing) throw new ForbiddenError(`${path}.tenant: this token may only keep objects in tenant '${context.principal.tenant}'`);
      merged.tenant_id = tenantId;
    }
    if (merged.tenant_id !== tenantId) throw new ForbiddenError(`${path}.tenant: this token is restricted to tenant '${context.principal.tenant}'`);
  }

  private async checkUnique(resource: Resource, merged: Json, existing: Row | null, db: Kysely<DynamicDatabase>, path: string): Promise<void> {
    const sets: string[][] = [
      ...Object.entries(resource.fields).filter(([, field]) => field.unique).map(([name]) => [name]),
      ...(resource.uniqueTogether ?? []).map((set) => [...set]),
    ];
    for (const names of sets) {
      const columns = names.map((name) => columnOf(name, resource.fields[name] as Field));
      if (columns.some((column) => merged[column] === null || merged[column] === undefined || merged[column] === '')) continue;
      const conditions: FilterCondition[] = columns.map((column) => ({ kind: 'in', column, values: [merged[column]] }));
      if (existing) conditions.push({ kind: 'in', column: 'id', values: [existing.id], negate: true });
      const clash = await db.selectFrom(resource.table).select('id').where(whereSql(conditions, resource.table)).executeTakeFirst();
      if (clash) {
        const field = `${path}.${names[names.length - 1]}`;
        throw new InvalidError(`${field}: a ${resource.label} with this ${names.join(' and ')} already exists (id ${clash.id})`, field);
      }
    }
  }
}

/** YYYY-MM-DD naming a day that exists (no 2023-02-30). */
function isCalendarDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const day = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === text;
}

