import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import { ConflictError, InvalidError } from '../core/errors.js';
import type { EventLog } from '../events/log.js';
import type { DynamicDatabase, Row } from '../inventory/model.js';
import type { ResourceRegistry } from '../inventory/registry.js';
import type { InventoryService } from '../inventory/service.js';
import { poolOfPrefix, type IpamService } from '../ipam/service.js';
import type { Store, Tx } from '../store/store.js';
import { fileValidator, FleetRepositoryError, locateProblems, readFleet, type DesiredFleet, type DesiredObject, type RepositoryFile } from './document.js';
import { kindsOf, type FleetValue, type Kind } from './kinds.js';
import { driftOf, planFleet, UnresolvedReferencesError, type CurrentObject, type CurrentState, type Plan, type PlannedChange } from './plan.js';
import { loadSnapshot, type FleetSnapshot } from './state.js';

type Json = Record<string, unknown>;

/** Where an apply's changes come from: recorded in every audit entry it writes. */
export interface FleetOrigin {
  commit?: string | undefined;
  author?: string | undefined;
  repository?: string | undefined;
}

export interface ApplyOptions {
  allowDelete: boolean;
  /** The plan the operator approved: apply refuses when the plan it computes is another. */
  expectedHash?: string | undefined;
  origin?: FleetOrigin | undefined;
}

export interface ApplyResult extends Plan {
  applied: boolean;
}

/**
 * Fleet as code: plans the store against a repository, applies exactly that plan in one transaction, and reports
 * drift. Applies serialise on the store's locks, so two never interleave: the second recomputes its plan on the
 * state the first left and, when an approved plan no longer matches, fails cleanly.
 */
export class FleetService {
  readonly kinds: Kind[];
  private validate: ReturnType<typeof fileValidator> | null = null;
  private readonly db: Kysely<DynamicDatabase>;

  constructor(
    private readonly store: Store,
    private readonly registry: ResourceRegistry,
    private readonly inventory: InventoryService,
    private readonly ipam: IpamService,
    private readonly events: EventLog,
  ) {
    this.kinds = kindsOf(registry);
    this.db = store.db as unknown as Kysely<DynamicDatabase>;
  }

  read(files: readonly RepositoryFile[]): DesiredFleet {
    // Compiled on first use: every `hangar serve` and CLI command builds this service, few of them read a fleet.
    this.validate ??= fileValidator(this.kinds);
    return readFleet(files, this.kinds, this.validate);
  }

  async plan(files: readonly RepositoryFile[]): Promise<Plan> {
    const desired = this.read(files);
    return planOrExplain(this.kinds, desired, (await loadSnapshot(this.db, this.kinds)).state, files);
  }

  async drift(): Promise<PlannedChange[]> {
    return driftOf(this.kinds, (await loadSnapshot(this.db, this.kinds)).state);
  }

  async apply(files: readonly RepositoryFile[], principal: Principal, options: ApplyOptions): Promise<ApplyResult> {
    const desired = this.read(files);
    const origin = Object.fromEntries(Object.entries(options.origin ?? {}).filter(([, value]) => value !== undefined));
    const actor: Principal = { ...principal, via: { fleet: origin } };
    return this.store.transaction(async (tx) => {
      // Every resource lock and the journal, in the one order: concurrent applies and API writes wait here.
      await this.inventory.lockFor(tx, ...this.registry.all());
      const db = tx.db as unknown as Kysely<DynamicDatabase>;
      const snapshot = await loadSnapshot(db, this.kinds);
      const plan = planOrExplain(this.kinds, desired, snapshot.state, files);
      if (options.expectedHash !== undefined && options.expectedHash !== plan.hash) {
        throw new ConflictError(`the plan changed since it was approved (approved ${options.expectedHash}, now ${plan.hash}): plan again`);
      }
      const deletes = plan.changes.filter((change) => change.action === 'delete');
      if (deletes.length > 0 && !options.allowDelete) {
        throw new ConflictError(
          `the plan deletes ${deletes.length} managed object(s) and deletion was not allowed; nothing was applied:\n` +
            deletes.map((change) => `  - ${change.kind} ${change.key}`).join('\n'),
        );
      }
      if (plan.changes.length === 0) return { ...plan, applied: false };
      await new Applier(tx, db, this.inventory, this.ipam, this.registry, actor, snapshot, desired).run(plan);
      await this.events.append(tx, { type: 'fleet.applied', subject: `fleet:${String(origin.commit ?? 'working-tree')}`, actor: principal.actor, data: { ...plan.summary, hash: plan.hash, ...origin } });
      return { ...plan, applied: true };
    });
  }
}

/** Carries out one plan inside the apply's transaction. */
class Applier {
  private readonly desiredByKey = new Map<string, DesiredObject>();
  private readonly deferred: Array<{ object: DesiredObject; id: number; field: string; value: string }> = [];

  constructor(
    private readonly tx: Tx,
    private readonly db: Kysely<DynamicDatabase>,
    private readonly inventory: InventoryService,
    private readonly ipam: IpamService,
    private readonly registry: ResourceRegistry,
    private readonly principal: Principal,
    private readonly snapshot: FleetSnapshot,
    private readonly desired: DesiredFleet,
  ) {
    for (const object of desired.objects) this.desiredByKey.set(`${object.kind.spec.objectType} ${object.key}`, object);
  }

  private get ids(): Map<string, Map<string, number>> {
    return this.snapshot.ids;
  }

  async run(plan: Plan): Promise<void> {
    // A renamed object is known by its new key from the start: this apply's creates may refer to it.
    for (const change of plan.changes) if (change.renamedFrom !== undefined) this.idsOf(change.objectType).set(change.key, change.id!);
    // Allocations last: the repository's literal addresses are taken first, so an allocation never steals one.
    const creates = plan.changes.filter((c) => c.action === 'create');
    for (const change of [...creates.filter((c) => !c.allocateFrom), ...creates.filter((c) => c.allocateFrom)]) await this.create(this.objectOf(change));
    for (const { object, id, field, value } of this.deferred) {
      await this.inventory.updateIn(this.tx, object.kind.resource, id, this.item(object, { [field]: value }), this.principal, this.path(object), true);
    }
    for (const change of plan.changes.filter((c) => c.action === 'update')) await this.update(this.objectOf(change), change);
    for (const change of plan.changes.filter((c) => c.action === 'delete')) {
      const resource = this.registry.get(change.objectType);
      // An earlier delete may have cascaded to this object already.
      const exists = await this.db.selectFrom(resource.table).select('id').where('id', '=', change.id).executeTakeFirst();
      if (exists) await this.inventory.deleteIn(this.tx, resource, change.id!, this.principal);
    }
    await this.refreshApplied();
    // Managed objects removed by a cascade, or through the API since the last apply, are no longer managed.
    for (const kind of new Set(plan.changes.map((c) => c.objectType))) {
      const table = this.registry.get(kind).table;
      await this.db
        .deleteFrom('fleet_managed')
        .where('object_type', '=', kind)
        .where((eb) => eb.not(eb('object_id', 'in', eb.selectFrom(table).select('id'))))
        .execute();
    }
  }

  /**
   * Unchanged objects whose references were renamed (an address on a renamed interface) record the new keys, so
   * drift does not report the rename as a change made outside the repository.
   */
  private async refreshApplied(): Promise<void> {
    const managed = new Map<string, CurrentObject>();
    for (const [type, objects] of this.snapshot.state) for (const object of objects) if (object.managed) managed.set(`${type} ${object.id}`, object);
    for (const object of this.desired.objects) {
      const type = object.kind.spec.objectType;
      const current = managed.get(`${type} ${String(this.ids.get(type)?.get(object.key))}`);
      const applied = appliedOf(object);
      if (!current?.applied || JSON.stringify(current.applied) === applied) continue;
      await this.db.updateTable('fleet_managed').set({ applied }).where('object_type', '=', type).where('object_id', '=', current.id).execute();
    }
  }

  private objectOf(change: PlannedChange): DesiredObject {
    return this.desiredByKey.get(`${change.objectType} ${change.key}`)!;
  }

  private path(object: DesiredObject): string {
    return object.source;
  }

  private async create(object: DesiredObject): Promise<void> {
    const forward: Array<{ field: string; value: string }> = [];
    const item = this.item(object, object.values, forward);
    if (object.tags) item.tags = object.tags;
    const resource = object.kind.resource;
    let row: Row | undefined;
    if (object.allocateFrom) {
      const prefix = (await this.db.selectFrom('ipam_prefixes').selectAll().where('prefix', '=', object.allocateFrom).executeTakeFirst()) as Row | undefined;
      if (!prefix) throw new InvalidError(`${this.path(object)}: allocate: prefix ${object.allocateFrom} does not exist`);
      row = await this.ipam.allocateIn(this.tx, poolOfPrefix(prefix), item, this.principal, this.path(object));
      if (!row) throw new ConflictError(`${this.path(object)}: prefix ${object.allocateFrom} has no free address`);
    } else {
      row = await this.inventory.createIn(this.tx, resource, item, this.principal, this.path(object));
    }
    const id = Number(row.id);
    this.idsOf(object.kind.spec.objectType).set(object.key, id);
    for (const { field, value } of forward) this.deferred.push({ object, id, field, value });
    await this.db.insertInto('fleet_managed').values({ object_type: object.kind.spec.objectType, object_id: id, key: object.key, applied: appliedOf(object) }).execute();
  }

  private async update(object: DesiredObject, change: PlannedChange): Promise<void> {
    const changed: Record<string, FleetValue> = {};
    for (const field of change.fields) if (field.field !== 'tags') changed[field.field] = object.values[field.field] ?? null;
    const item = this.item(object, changed);
    if (change.fields.some((field) => field.field === 'tags')) item.tags = object.tags ?? [];
    const id = change.id!;
    if (Object.keys(item).length > 0) await this.inventory.updateIn(this.tx, object.kind.resource, id, item, this.principal, this.path(object), true);
    const type = object.kind.spec.objectType;
    await this.db.deleteFrom('fleet_managed').where('object_type', '=', type).where('object_id', '=', id).execute();
    await this.db.insertInto('fleet_managed').values({ object_type: type, object_id: id, key: object.key, applied: appliedOf(object) }).execute();
    this.idsOf(type).set(object.key, id);
  }

  /** Repository values to the API's write form: references by id (later, for objects this apply creates after). */
  private item(object: DesiredObject, values: Record<string, FleetValue>, forward?: Array<{ field: string; value: string }>): Json {
    const item: Json = {};
    for (const [name, value] of Object.entries(values)) {
      const field = object.kind.field(name);
      if (field.type !== 'ref') {
        item[object.kind.toResource.get(name) ?? name] = value;
        continue;
      }
      let id: number | null = null;
      if (value !== null) {
        const found = this.idsOf(field.to).get(String(value));
        if (found === undefined && forward && !field.required) {
          forward.push({ field: name, value: String(value) });
        } else if (found === undefined) {
          throw new InvalidError(`${this.path(object)}.${name}: ${String(value)} does not exist`);
        } else {
          id = found;
        }
      }
      if (object.kind.isInterfaceLink(name)) {
        item.assigned_object_type = id === null ? null : 'dcim.interface';
        item.assigned_object_id = id;
      } else {
        item[object.kind.toResource.get(name) ?? name] = id;
      }
    }
    return item;
  }

  private idsOf(objectType: string): Map<string, number> {
    let ids = this.ids.get(objectType);
    if (!ids) this.ids.set(objectType, (ids = new Map()));
    return ids;
  }
}

/** The plan, or the repository's unresolved references placed at their lines and columns. */
function planOrExplain(kinds: readonly Kind[], desired: DesiredFleet, state: CurrentState, files: readonly RepositoryFile[]): Plan {
  try {
    return planFleet(kinds, desired, state);
  } catch (error) {
    if (error instanceof UnresolvedReferencesError) throw new FleetRepositoryError(locateProblems(files, error.problems));
    throw error;
  }
}

function appliedOf(object: DesiredObject): string {
  return JSON.stringify(object.tags === null ? object.values : { ...object.values, tags: object.tags });
}
