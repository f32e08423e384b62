import type { Kysely } from 'kysely';
import { choice, readColumn, type DynamicDatabase, type Resource, type Row, type SerializeContext } from './model.js';
import { columnOf, hasTags, type ResourceRegistry } from './registry.js';

type Json = Record<string, unknown>;

/**
 * Turns rows into NetBox's representation: `id`, `url`, `display`, fields with references nested in brief form,
 * choices as `{value, label}`, tags, custom fields and timestamps. One serializer serves one request, so every
 * referenced object is loaded once, in batches.
 */
export class Serializer {
  private readonly briefs = new Map<string, Map<number, Promise<Json | null>>>();
  private readonly context: SerializeContext;

  constructor(
    private readonly registry: ResourceRegistry,
    private readonly db: Kysely<DynamicDatabase>,
    private readonly base: string,
  ) {
    this.context = { db, base, brief: (objectType, id) => this.brief(objectType, id) };
  }

  url(resource: Resource, id: number): string {
    return `${this.base}/api/${resource.path}/${id}/`;
  }

  /** The brief form of one object (cached per request). */
  brief(objectType: string, id: number | null | undefined): Promise<Json | null> {
    if (id === null || id === undefined) return Promise.resolve(null);
    const cache = this.cacheFor(objectType);
    const known = cache.get(Number(id));
    if (known) return known;
    const loading = this.loadBriefs(objectType, [Number(id)]).then(() => cache.get(Number(id)) ?? Promise.resolve(null));
    return loading;
  }

  private cacheFor(objectType: string): Map<number, Promise<Json | null>> {
    let cache = this.briefs.get(objectType);
    if (!cache) this.briefs.set(objectType, (cache = new Map()));
    return cache;
  }

  /** Loads the brief forms of many objects of one type with one query. */
  private async loadBriefs(objectType: string, ids: number[]): Promise<void> {
    const cache = this.cacheFor(objectType);
    const missing = [...new Set(ids)].filter((id) => !cache.has(id));
    if (missing.length === 0) return;
    const resource = this.registry.get(objectType);
    const pending = this.db.selectFrom(resource.table).selectAll().where('id', 'in', missing).execute();
    const rowsById = pending.then((rows) => new Map(rows.map((row) => [Number(row.id), row as Row])));
    for (const id of missing) {
      cache.set(
        id,
        rowsById.then((rows) => {
          const row = rows.get(id);
          return row ? this.briefOf(resource, row) : null;
        }),
      );
    }
    await rowsById;
  }

  private async briefOf(resource: Resource, row: Row): Promise<Json> {
    const out: Json = { id: Number(row.id), url: this.url(resource, Number(row.id)), display: resource.display(row) };
    for (const name of resource.brief) {
      const field = resource.fields[name];
      if (field) out[name] = await this.value(resource, name, row);
    }
    if (resource.briefExtra) Object.assign(out, resource.briefExtra(row));
    return out;
  }

  private async value(resource: Resource, name: string, row: Row): Promise<unknown> {
    const field = resource.fields[name];
    if (!field) return undefined;
    const raw = row[columnOf(name, field)];
    switch (field.type) {
      case 'ref':
        return this.brief(field.to, raw as number | null);
      case 'choice':
        return choice(field.choices, raw);
      default:
        return readColumn(field, raw);
    }
  }

  /** Full representations of rows of one resource, in order. */
  async full(resource: Resource, rows: Row[], exclude: ReadonlySet<string> = new Set()): Promise<Json[]> {
    await this.prefetch(resource, rows);
    const tags = hasTags(resource) ? await this.tagsOf(resource, rows) : new Map<number, Json[]>();
    return Promise.all(
      rows.map(async (row) => {
        const out: Json = { id: Number(row.id), url: this.url(resource, Number(row.id)), display: resource.display(row) };
        for (const name of Object.keys(resource.fields)) out[name] = await this.value(resource, name, row);
        if (resource.extra) Object.assign(out, await resource.extra(row, this.context));
        if (hasTags(resource)) {
          out.tags = tags.get(Number(row.id)) ?? [];
          out.custom_fields = JSON.parse(String(row.custom_fields ?? '{}')) as unknown;
        }
        out.created = row.created;
        out.last_updated = row.last_updated;
        for (const name of exclude) delete out[name];
        return out;
      }),
    );
  }

  async briefMany(resource: Resource, rows: Row[]): Promise<Json[]> {
    await this.prefetch(resource, rows, resource.brief);
    return Promise.all(rows.map((row) => this.briefOf(resource, row)));
  }

  /** Loads every object the rows refer to, one query per referenced type. */
  private async prefetch(resource: Resource, rows: Row[], names: readonly string[] = Object.keys(resource.fields)): Promise<void> {
    const wanted = new Map<string, number[]>();
    for (const name of names) {
      const field = resource.fields[name];
      if (field?.type !== 'ref') continue;
      const ids = rows.map((row) => row[columnOf(name, field)]).filter((id): id is number => id !== null && id !== undefined).map(Number);
      wanted.set(field.to, [...(wanted.get(field.to) ?? []), ...ids]);
    }
    await Promise.all([...wanted].map(([objectType, ids]) => this.loadBriefs(objectType, ids)));
  }

  private async tagsOf(resource: Resource, rows: Row[]): Promise<Map<number, Json[]>> {
    const byObject = new Map<number, Json[]>();
    if (rows.length === 0) return byObject;
    const tag = this.registry.get('extras.tag');
    const found = await this.db
      .selectFrom('extras_tagged_items')
      .innerJoin('extras_tags', 'extras_tags.id', 'extras_tagged_items.tag_id')
      .select(['extras_tagged_items.object_id as object_id', 'extras_tags.id as id', 'extras_tags.name as name', 'extras_tags.slug as slug', 'extras_tags.color as color'])
      .where('extras_tagged_items.object_type', '=', resource.objectType)
      .where('extras_tagged_items.object_id', 'in', rows.map((row) => Number(row.id)))
      .orderBy('extras_tags.name')
      .execute();
    for (const row of found) {
      const list = byObject.get(Number(row.object_id)) ?? [];
      list.push({ id: Number(row.id), url: this.url(tag, Number(row.id)), display: row.name, name: row.name, slug: row.slug, color: row.color });
      byObject.set(Number(row.object_id), list);
    }
    return byObject;
  }
}
