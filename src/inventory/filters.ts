import { sql, type RawBuilder } from 'kysely';
import { InvalidError } from '../core/errors.js';
import { normalizeMac } from '../core/net/index.js';
import type { CustomFilter, Field, FilterCondition, FilterValues, Resource } from './model.js';
import { columnOf, hasTags, type ResourceRegistry } from './registry.js';

/**
 * NetBox's filter language, derived from a resource's fields: `name=`, `name__ic=`, `site=<slug>`, `site_id=`,
 * `status__n=`, `tag=` (all must match), `q=`, and the resource's own filters. Repeating a parameter ORs its values.
 * Unlike NetBox, an unknown filter is an error, never a silently unfiltered table.
 */

/** Query parameters that are not filters. */
export const CONTROL_PARAMETERS = ['limit', 'offset', 'brief', 'ordering', 'exclude', 'format'] as const;

const STRING_LOOKUPS: Record<string, { pattern: (v: string) => string; negate: boolean } | 'exact-ci' | 'not-exact-ci' | 'empty'> = {
  ic: { pattern: (v) => `%${escapeLike(v)}%`, negate: false },
  nic: { pattern: (v) => `%${escapeLike(v)}%`, negate: true },
  isw: { pattern: (v) => `${escapeLike(v)}%`, negate: false },
  nisw: { pattern: (v) => `${escapeLike(v)}%`, negate: true },
  iew: { pattern: (v) => `%${escapeLike(v)}`, negate: false },
  niew: { pattern: (v) => `%${escapeLike(v)}`, negate: true },
  ie: { pattern: (v) => escapeLike(v), negate: false },
  nie: { pattern: (v) => escapeLike(v), negate: true },
  empty: 'empty',
};

const NUMERIC_LOOKUPS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

function escapeLike(text: string): string {
  return text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Parses a filter's values as integers, or a 400 naming the filter. */
export function integers(values: FilterValues, name: string): number[] {
  return values.map((value) => {
    if (!/^-?\d+$/.test(value)) throw new InvalidError(`query.${name}: '${value}' is not an integer`, `query.${name}`);
    return Number(value);
  });
}

function numbers(values: FilterValues, name: string): number[] {
  return values.map((value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidError(`query.${name}: '${value}' is not a number`, `query.${name}`);
    return n;
  });
}

function booleans(values: FilterValues, name: string): number[] {
  return values.map((value) => {
    const v = value.toLowerCase();
    if (['true', '1', 'yes'].includes(v)) return 1;
    if (['false', '0', 'no'].includes(v)) return 0;
    throw new InvalidError(`query.${name}: '${value}' is not true or false`, `query.${name}`);
  });
}

/** Parses a yes/no filter (`true`, `True`, `1`, ...), or a 400 naming the filter. */
export function flag(values: FilterValues, name: string): boolean {
  return booleans([single(values, name)], name)[0] === 1;
}

function single(values: FilterValues, name: string): string {
  if (values.length !== 1) throw new InvalidError(`query.${name}: give one value`, `query.${name}`);
  return values[0] as string;
}

function isNullValue(value: string): boolean {
  return value === 'null';
}

/** `column in (values)`, where `null` in the values matches NULL, as NetBox allows. */
function inWithNull(column: string, values: readonly unknown[], negate: boolean): FilterCondition {
  const nonNull = values.filter((v) => v !== null);
  const parts: FilterCondition[] = [];
  if (nonNull.length > 0) parts.push({ kind: 'in', column, values: nonNull });
  if (nonNull.length !== values.length) parts.push({ kind: 'null', column });
  const any: FilterCondition = { kind: 'any', conditions: parts };
  return negate ? { kind: 'all', conditions: parts.map((p) => negateCondition(p)) } : any;
}

function negateCondition(condition: FilterCondition): FilterCondition {
  switch (condition.kind) {
    case 'in':
    case 'subquery':
    case 'like':
    case 'null':
      return { ...condition, negate: !condition.negate };
    default:
      throw new Error(`cannot negate ${condition.kind}`);
  }
}

function fieldFilters(registry: ResourceRegistry, name: string, field: Field): Record<string, CustomFilter> {
  const column = columnOf(name, field);
  const filters: Record<string, CustomFilter> = {};
  const text = () => {
    filters[name] = { description: `${name} (exact)`, apply: (values) => [inWithNull(column, values.map((v) => (isNullValue(v) ? null : v)), false)] };
    filters[`${name}__n`] = { description: `${name} is not`, apply: (values) => [inWithNull(column, values.map((v) => (isNullValue(v) ? null : v)), true)] };
    for (const [lookup, spec] of Object.entries(STRING_LOOKUPS)) {
      const filterName = `${name}__${lookup}`;
      filters[filterName] = {
        description: `${name} lookup ${lookup}`,
        apply(values) {
          if (spec === 'empty') {
            const [flag] = booleans([single(values, filterName)], filterName);
            const empty: FilterCondition = { kind: 'any', conditions: [{ kind: 'null', column }, { kind: 'in', column, values: [''] }] };
            return flag ? [empty] : [{ kind: 'all', conditions: [{ kind: 'null', column, negate: true }, { kind: 'in', column, values: [''], negate: true }] }];
          }
          if (typeof spec === 'string') throw new Error('unreachable');
          const likes: FilterCondition[] = values.map((v) => ({ kind: 'like', column, pattern: spec.pattern(v), negate: spec.negate }));
          return [spec.negate ? { kind: 'all', conditions: likes } : { kind: 'any', conditions: likes }];
        },
      };
    }
  };
  const numeric = (parse: (values: FilterValues, name: string) => number[]) => {
    filters[name] = { description: name, apply: (values, f) => [{ kind: 'in', column, values: parse(values, f) }] };
    filters[`${name}__n`] = { description: `${name} is not`, apply: (values, f) => [negateCondition({ kind: 'in', column, values: parse(values, f) })] };
    for (const [lookup, op] of Object.entries(NUMERIC_LOOKUPS)) {
      filters[`${name}__${lookup}`] = {
        description: `${name} ${op}`,
        apply: (values, f) => [{ kind: 'compare', column, op, value: parse([single(values, f)], f)[0] }],
      };
    }
  };
  switch (field.type) {
    case 'string':
    case 'slug':
    case 'color':
    case 'ipv4':
      text();
      break;
    case 'list':
      // Lists (DHCP pools, kernel arguments) are read whole; nobody filters by an element.
      break;
    case 'mac':
      filters[name] = { description: `${name} (any notation)`, apply: (values, f) => [{ kind: 'in', column, values: values.map((v) => normalizeMac(v, `query.${f}`)) }] };
      filters[`${name}__n`] = { description: `${name} is not`, apply: (values, f) => [negateCondition({ kind: 'in', column, values: values.map((v) => normalizeMac(v, `query.${f}`)) })] };
      filters[`${name}__ic`] = { description: `${name} contains`, apply: (values) => [{ kind: 'any', conditions: values.map((v) => ({ kind: 'like', column, pattern: `%${escapeLike(v)}%` }) as const) }] };
      filters[`${name}__isw`] = { description: `${name} starts with`, apply: (values) => [{ kind: 'any', conditions: values.map((v) => ({ kind: 'like', column, pattern: `${escapeLike(v)}%` }) as const) }] };
      break;
    case 'integer':
      numeric(integers);
      break;
    case 'decimal':
      numeric(numbers);
      break;
    case 'date':
      numeric((values, f) =>
        values.map((v) => {
          if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new InvalidError(`query.${f}: '${v}' is not a date (YYYY-MM-DD)`, `query.${f}`);
          return v as unknown as number;
        }),
      );
      break;
    case 'boolean':
      filters[name] = { description: name, apply: (values, f) => [{ kind: 'in', column, values: booleans(values, f) }] };
      break;
    case 'choice': {
      const check = (values: FilterValues, f: string) =>
        values.map((v) => {
          if (isNullValue(v)) return null;
          if (!(v in field.choices)) {
            throw new InvalidError(`query.${f}: '${v}' is not one of ${Object.keys(field.choices).join(', ')}`, `query.${f}`);
          }
          return v;
        });
      filters[name] = { description: `${name}: ${Object.keys(field.choices).join(', ')}`, apply: (values, f) => [inWithNull(column, check(values, f), false)] };
      filters[`${name}__n`] = { description: `${name} is not`, apply: (values, f) => [inWithNull(column, check(values, f), true)] };
      break;
    }
    case 'ref': {
      const target = registry.get(field.to);
      const ids = (values: FilterValues, f: string) => values.map((v) => (isNullValue(v) ? null : integers([v], f)[0] as number));
      filters[`${name}_id`] = { description: `${name} id`, apply: (values, f) => [inWithNull(column, ids(values, f), false)] };
      filters[`${name}_id__n`] = { description: `${name} id is not`, apply: (values, f) => [inWithNull(column, ids(values, f), true)] };
      const key = 'slug' in target.fields ? 'slug' : 'name' in target.fields && target.fields.name?.unique ? 'name' : null;
      if (key) {
        const bySlug = (values: FilterValues, negate: boolean): FilterCondition => {
          const named = values.filter((v) => !isNullValue(v));
          const parts: FilterCondition[] = [];
          if (named.length > 0) parts.push({ kind: 'subquery', column, table: target.table, select: 'id', conditions: [{ kind: 'in', column: key, values: named }] });
          if (named.length !== values.length) parts.push({ kind: 'null', column });
          return negate ? { kind: 'all', conditions: parts.map(negateCondition) } : { kind: 'any', conditions: parts };
        };
        filters[name] = { description: `${name} ${key}`, apply: (values) => [bySlug(values, false)] };
        filters[`${name}__n`] = { description: `${name} ${key} is not`, apply: (values) => [bySlug(values, true)] };
      }
      break;
    }
  }
  return filters;
}

/** Every filter a resource accepts, by name. */
export function filtersFor(registry: ResourceRegistry, resource: Resource): Map<string, CustomFilter> {
  const filters = new Map<string, CustomFilter>();
  const add = (entries: Record<string, CustomFilter>) => {
    for (const [name, filter] of Object.entries(entries)) filters.set(name, filter);
  };
  add(fieldFilters(registry, 'id', { type: 'integer' }));
  for (const [name, field] of Object.entries(resource.fields)) add(fieldFilters(registry, name, field));
  const search = Object.entries(resource.fields)
    .filter(([, field]) => field.search)
    .map(([name, field]) => columnOf(name, field));
  filters.set('q', {
    description: `search ${search.join(', ')}`,
    apply: (values) => [
      {
        kind: 'all',
        conditions: values.map((v) => ({ kind: 'any', conditions: search.map((column) => ({ kind: 'like', column, pattern: `%${escapeLike(v.trim())}%` }) as const) })),
      },
    ],
  });
  if (hasTags(resource)) {
    const tagged = (conditions: FilterCondition[], negate = false): FilterCondition => ({
      kind: 'subquery',
      column: 'id',
      table: 'extras_tagged_items',
      select: 'object_id',
      conditions: [{ kind: 'in', column: 'object_type', values: [resource.objectType] }, ...conditions],
      negate,
    });
    const tagIds = (slugs: readonly string[]): FilterCondition => ({
      kind: 'subquery',
      column: 'tag_id',
      table: 'extras_tags',
      select: 'id',
      conditions: [{ kind: 'in', column: 'slug', values: slugs }],
    });
    // NetBox ANDs repeated tag= values: the object must carry every tag.
    filters.set('tag', { description: 'tag slug; repeat for objects with all of them', apply: (values) => values.map((v) => tagged([tagIds([v])])) });
    filters.set('tag__n', { description: 'has none of these tag slugs', apply: (values) => [tagged([tagIds(values)], true)] });
    filters.set('tag_id', { description: 'tag id; repeat for objects with all of them', apply: (values, f) => integers(values, f).map((id) => tagged([{ kind: 'in', column: 'tag_id', values: [id] }])) });
  }
  add(resource.filters ?? {});
  return filters;
}

/** Parses a query string's filters into conditions; unknown names are a 400 naming them. */
export async function parseFilters(
  filters: Map<string, CustomFilter>,
  query: Record<string, string | string[] | undefined>,
): Promise<FilterCondition[]> {
  const conditions: FilterCondition[] = [];
  for (const [name, raw] of Object.entries(query)) {
    if ((CONTROL_PARAMETERS as readonly string[]).includes(name) || raw === undefined) continue;
    const filter = filters.get(name);
    if (!filter) throw new InvalidError(`query.${name}: unknown filter`, `query.${name}`);
    const values = Array.isArray(raw) ? raw : [raw];
    conditions.push(...(await filter.apply(values, name)));
  }
  return conditions;
}

/** Renders conditions as SQL over `table`'s columns. */
export function conditionSql(condition: FilterCondition, table: string): RawBuilder<unknown> {
  const ref = (column: string) => sql.ref(`${table}.${column}`);
  switch (condition.kind) {
    case 'in': {
      if (condition.values.length === 0) return condition.negate ? sql`1 = 1` : sql`1 = 0`;
      const list = sql.join(condition.values.map((v) => sql`${v}`));
      return condition.negate ? sql`(${ref(condition.column)} is null or ${ref(condition.column)} not in (${list}))` : sql`${ref(condition.column)} in (${list})`;
    }
    case 'compare':
      return sql`${ref(condition.column)} ${sql.raw(condition.op)} ${condition.value}`;
    case 'like':
      return condition.negate
        ? sql`(${ref(condition.column)} is null or lower(${ref(condition.column)}) not like ${condition.pattern} escape '\\')`
        : sql`lower(${ref(condition.column)}) like ${condition.pattern} escape '\\'`;
    case 'null':
      return condition.negate ? sql`${ref(condition.column)} is not null` : sql`${ref(condition.column)} is null`;
    case 'subquery': {
      const inner = condition.conditions.length > 0 ? sql.join(condition.conditions.map((c) => conditionSql(c, condition.table)), sql` and `) : sql`1 = 1`;
      const sub = sql`select ${sql.ref(`${condition.table}.${condition.select}`)} from ${sql.table(condition.table)} where ${inner}`;
      return condition.negate ? sql`${ref(condition.column)} not in (${sub})` : sql`${ref(condition.column)} in (${sub})`;
    }
    case 'any':
      return condition.conditions.length === 0 ? sql`1 = 0` : sql`(${sql.join(condition.conditions.map((c) => conditionSql(c, table)), sql` or `)})`;
    case 'all':
      return condition.conditions.length === 0 ? sql`1 = 1` : sql`(${sql.join(condition.conditions.map((c) => conditionSql(c, table)), sql` and `)})`;
  }
}

export function whereSql(conditions: readonly FilterCondition[], table: string): RawBuilder<boolean> {
  return conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions.map((c) => conditionSql(c, table)), sql` and `)}`;
}
