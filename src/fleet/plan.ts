import { createHash } from 'node:crypto';
import type { DesiredFleet, DesiredObject, Problem } from './document.js';
import type { FleetValue, Kind } from './kinds.js';

/**
 * The planner: a pure comparison of the desired fleet with the store's current objects. It decides, object by
 * object, what apply will create, update (field by field) and delete; apply carries out exactly this plan.
 */

/** An object as it is in the store, in repository form. */
export interface CurrentObject {
  id: number;
  /** The managed key when fleet-as-code created or adopted it, else the key computed from its fields. */
  key: string;
  values: Record<string, FleetValue>;
  tags: string[] | null;
  managed: boolean;
  /** What the last apply wrote (managed objects only): drift is what differs from it. */
  applied: Record<string, FleetValue> | null;
}

export interface FieldChange {
  field: string;
  old: FleetValue | undefined;
  new: FleetValue | undefined;
}

export interface PlannedChange {
  action: 'create' | 'update' | 'delete';
  objectType: string;
  kind: string;
  key: string;
  /** Store id of the object updated or deleted. */
  id: number | null;
  fields: FieldChange[];
  /** An update of an object the API created, which the repository now takes over. */
  adopt?: boolean;
  /** The managed key the object had before a rename in the repository. */
  renamedFrom?: string;
  allocateFrom?: string;
  source: string | null;
}

export interface Plan {
  changes: PlannedChange[];
  summary: { create: number; update: number; delete: number };
  /** Identifies the plan: apply refuses to run when the plan it computes differs from the one shown. */
  hash: string;
}

export type CurrentState = ReadonlyMap<string, readonly CurrentObject[]>;

/** References to objects that exist neither in the repository nor in the store; placed by the caller, who has the files. */
export class UnresolvedReferencesError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map((problem) => problem.message).join('; '));
  }
}

export function planFleet(kinds: readonly Kind[], desired: DesiredFleet, current: CurrentState): Plan {
  const problems: Problem[] = [];
  const desiredKeys = new Map<string, Set<string>>();
  for (const object of desired.objects) {
    let keys = desiredKeys.get(object.kind.spec.objectType);
    if (!keys) desiredKeys.set(object.kind.spec.objectType, (keys = new Set()));
    keys.add(object.key);
  }
  const currentByKey = new Map<string, Map<string, CurrentObject>>();
  for (const [objectType, objects] of current) {
    const byKey = new Map<string, CurrentObject>();
    // A managed object owns its key; an unmanaged one with the same computed key yields to it.
    for (const object of objects) if (!object.managed && !byKey.has(object.key)) byKey.set(object.key, object);
    for (const object of objects) if (object.managed) byKey.set(object.key, object);
    currentByKey.set(objectType, byKey);
  }

  // Renames: an object written with `renamed_from` keeps its identity; its children's keys follow.
  const renames: Array<[string, string]> = [];
  const creates: PlannedChange[] = [];
  const updates: PlannedChange[] = [];
  const matched = new Set<CurrentObject>();
  /** `<type> <old key>` to the new key, so references to a renamed object do not read as changes. */
  const renamedKeys = new Map<string, string>();
  for (const object of desired.objects) {
    const objectType = object.kind.spec.objectType;
    const byKey = currentByKey.get(objectType) ?? new Map<string, CurrentObject>();
    let existing = object.allocateFrom ? managedOnly(byKey.get(object.key)) : byKey.get(object.key);
    let renamedFrom: string | undefined;
    if (!existing) {
      // Written with `renamed_from`, or a child (an interface, an address) of a renamed object.
      const candidates = object.renamedFrom !== undefined ? [object.renamedFrom] : [];
      for (const [newKey, oldKey] of renames) {
        if (object.key.startsWith(`${newKey}/`) || object.key.startsWith(`${newKey}@`)) candidates.push(oldKey + object.key.slice(newKey.length));
      }
      for (const oldKey of candidates) {
        const candidate = byKey.get(oldKey);
        if (candidate?.managed && !desiredKeys.get(objectType)?.has(candidate.key) && !matched.has(candidate)) {
          existing = candidate;
          renamedFrom = candidate.key;
          break;
        }
      }
    }
    checkReferences(object, desiredKeys, currentByKey, problems);
    if (!existing) {
      creates.push({
        action: 'create',
        objectType,
        kind: object.kind.list,
        key: object.key,
        id: null,
        fields: Object.entries(object.values)
          .filter(([field, value]) => !sameValue(value, object.kind.defaultValue(field)))
          .map(([field, value]) => ({ field, old: undefined, new: value })),
        ...(object.allocateFrom ? { allocateFrom: object.allocateFrom } : {}),
        source: object.source,
      });
      if (object.tags && object.tags.length > 0) creates[creates.length - 1]!.fields.push({ field: 'tags', old: undefined, new: object.tags });
      continue;
    }
    matched.add(existing);
    if (renamedFrom !== undefined) {
      renames.push([object.key, renamedFrom]);
      renamedKeys.set(`${objectType} ${renamedFrom}`, object.key);
    }
    const fields = diffValues(object, existing, (type, key) => renamedKeys.get(`${type} ${key}`) ?? key);
    if (fields.length > 0 || !existing.managed || renamedFrom !== undefined) {
      updates.push({
        action: 'update',
        objectType,
        kind: object.kind.list,
        key: object.key,
        id: existing.id,
        fields,
        ...(existing.managed ? {} : { adopt: true }),
        ...(renamedFrom !== undefined ? { renamedFrom } : {}),
        source: object.source,
      });
    }
  }
  if (problems.length > 0) throw new UnresolvedReferencesError(problems);

  const deletes: PlannedChange[] = [];
  for (const kind of [...kinds].reverse()) {
    for (const object of current.get(kind.spec.objectType) ?? []) {
      if (!object.managed || matched.has(object)) continue;
      deletes.push({ action: 'delete', objectType: kind.spec.objectType, kind: kind.list, key: object.key, id: object.id, fields: [], source: null });
    }
  }
  const changes = [...creates, ...updates, ...deletes];
  return {
    changes,
    summary: { create: creates.length, update: updates.length, delete: deletes.length },
    hash: createHash('sha256').update(JSON.stringify(changes)).digest('hex').slice(0, 16),
  };
}

function managedOnly(object: CurrentObject | undefined): CurrentObject | undefined {
  return object?.managed ? object : undefined;
}

function diffValues(object: DesiredObject, existing: CurrentObject, renamed: (objectType: string, key: string) => string): FieldChange[] {
  const fields: FieldChange[] = [];
  for (const [field, value] of Object.entries(object.values)) {
    const definition = object.kind.field(field);
    const old = existing.values[field] ?? null;
    const now = definition.type === 'ref' && typeof old === 'string' ? renamed(definition.to, old) : old;
    if (!sameValue(value, now)) fields.push({ field, old, new: value });
  }
  if (object.tags !== null && !sameValue(object.tags, existing.tags ?? [])) fields.push({ field: 'tags', old: existing.tags ?? [], new: object.tags });
  return fields;
}

/** Drift: managed objects whose fields differ from what the last apply wrote. */
export function driftOf(kinds: readonly Kind[], current: CurrentState): PlannedChange[] {
  const out: PlannedChange[] = [];
  for (const kind of kinds) {
    for (const object of current.get(kind.spec.objectType) ?? []) {
      if (!object.managed || !object.applied) continue;
      const fields: FieldChange[] = [];
      for (const [field, applied] of Object.entries(object.applied)) {
        const now = field === 'tags' ? (object.tags ?? []) : (object.values[field] ?? null);
        if (!sameValue(applied, now)) fields.push({ field, old: applied, new: now });
      }
      if (fields.length > 0) out.push({ action: 'update', objectType: kind.spec.objectType, kind: kind.list, key: object.key, id: object.id, fields, source: null });
    }
  }
  return out;
}

export function sameValue(a: FleetValue | undefined, b: FleetValue | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => item === b[index]);
  return (a ?? null) === (b ?? null);
}

/** Every reference must name an object of the repository or one Hangar already has. */
function checkReferences(object: DesiredObject, desiredKeys: Map<string, Set<string>>, currentByKey: Map<string, Map<string, CurrentObject>>, problems: Problem[]): void {
  for (const [name, value] of Object.entries(object.values)) {
    if (value === null || typeof value !== 'string') continue;
    const field = object.kind.field(name);
    if (field.type !== 'ref') continue;
    if (desiredKeys.get(field.to)?.has(value) || currentByKey.get(field.to)?.has(value)) continue;
    problems.push({ file: object.file, path: [...object.path, name], message: `${object.kind.resource.label} '${object.key}': ${name} '${value}' is neither in the repository nor in Hangar` });
  }
  for (const tag of object.tags ?? []) {
    if (desiredKeys.get('extras.tag')?.has(tag) || currentByKey.get('extras.tag')?.has(tag)) continue;
    problems.push({ file: object.file, path: [...object.path, 'tags'], message: `${object.kind.resource.label} '${object.key}': tag '${tag}' is neither in the repository nor in Hangar` });
  }
}
