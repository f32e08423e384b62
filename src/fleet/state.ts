import type { Kysely } from 'kysely';
import { columnOf } from '../inventory/registry.js';
import { readColumn, type DynamicDatabase, type Row } from '../inventory/model.js';
import type { FleetValue, Kind } from './kinds.js';
import type { CurrentObject, CurrentState } from './plan.js';

/** The store's objects of every kind in repository form, with what fleet-as-code manages; read in one pass. */
export interface FleetSnapshot {
  state: CurrentState;
  /** Key to id, per object type, for resolving references at apply. */
  ids: Map<string, Map<string, number>>;
}

export async function loadSnapshot(db: Kysely<DynamicDatabase>, kinds: readonly Kind[]): Promise<FleetSnapshot> {
  const managed = new Map<string, Map<number, { key: string; applied: Record<string, FleetValue> }>>();
  for (const row of await db.selectFrom('fleet_managed').selectAll().execute()) {
    const type = String(row.object_type);
    let byId = managed.get(type);
    if (!byId) managed.set(type, (byId = new Map()));
    byId.set(Number(row.object_id), { key: String(row.key), applied: JSON.parse(String(row.applied)) as Record<string, FleetValue> });
  }
  const tags = new Map<string, Map<number, string[]>>();
  const tagged = await db
    .selectFrom('extras_tagged_items')
    .innerJoin('extras_tags', 'extras_tags.id', 'extras_tagged_items.tag_id')
    .select(['extras_tagged_items.object_type as type', 'extras_tagged_items.object_id as id', 'extras_tags.slug as slug'])
    .execute();
  for (const { type, id, slug } of tagged) {
    let byId = tags.get(String(type));
    if (!byId) tags.set(String(type), (byId = new Map()));
    const list = byId.get(Number(id)) ?? [];
    list.push(String(slug));
    byId.set(Number(id), list);
  }

  // Keys first, in kind order: a key may use the key of an earlier kind (a rack's site), never of a later one.
  const rowsByType = new Map<string, Row[]>();
  const keys = new Map<string, Map<number, string>>();
  for (const kind of kinds) {
    const type = kind.spec.objectType;
    const rows = (await db.selectFrom(kind.resource.table).selectAll().execute()) as Row[];
    rowsByType.set(type, rows);
    const byId = new Map<number, string>();
    keys.set(type, byId);
    for (const row of rows) {
      const id = Number(row.id);
      const own = managed.get(type)?.get(id);
      if (own) byId.set(id, own.key);
      else {
        const keyValues: Record<string, FleetValue> = {};
        for (const name of kind.spec.key) keyValues[name] = valueOf(kind, name, row, keys);
        byId.set(id, kind.keyOf(keyValues));
      }
    }
  }

  const state = new Map<string, CurrentObject[]>();
  const ids = new Map<string, Map<string, number>>();
  for (const kind of kinds) {
    const type = kind.spec.objectType;
    const objects: CurrentObject[] = [];
    const idsByKey = new Map<string, number>();
    for (const row of rowsByType.get(type)!) {
      const id = Number(row.id);
      const values: Record<string, FleetValue> = {};
      for (const name of kind.spec.fields) values[name] = valueOf(kind, name, row, keys);
      const own = managed.get(type)?.get(id);
      const key = keys.get(type)!.get(id)!;
      objects.push({
        id,
        key,
        values,
        tags: kind.spec.tags ? [...(tags.get(type)?.get(id) ?? [])].sort() : null,
        managed: own !== undefined,
        applied: own?.applied ?? null,
      });
      if (own || !idsByKey.has(key)) idsByKey.set(key, id);
    }
    state.set(type, objects);
    ids.set(type, idsByKey);
  }
  return { state, ids };
}

function valueOf(kind: Kind, name: string, row: Row, keys: Map<string, Map<number, string>>): FleetValue {
  const field = kind.field(name);
  if (kind.isInterfaceLink(name)) {
    return row.assigned_object_type === 'dcim.interface' ? refKey(keys, 'dcim.interface', row.assigned_object_id) : null;
  }
  const raw = row[columnOf(kind.toResource.get(name) ?? name, field)];
  if (field.type === 'ref') return refKey(keys, field.to, raw);
  return readColumn(field, raw);
}

function refKey(keys: Map<string, Map<number, string>>, objectType: string, id: unknown): string | null {
  if (id === null || id === undefined) return null;
  // A reference to an object of a later kind (a device's primary address) is resolved in the second pass.
  return keys.get(objectType)?.get(Number(id)) ?? `#${String(id)}`;
}
