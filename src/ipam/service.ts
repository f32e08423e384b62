import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import { ConflictError, InvalidError } from '../core/errors.js';
import {
  addressFromKey,
  addressKey,
  addressOf,
  availablePrefixes,
  formatAddress,
  formatPrefix,
  parseAddress,
  usableRange,
  type IpAddress,
  type IpFamily,
  type IpPrefix,
} from '../core/net/index.js';
import { whereSql } from '../inventory/filters.js';
import type { DynamicDatabase, FilterCondition, Resource, Row } from '../inventory/model.js';
import type { InventoryService } from '../inventory/service.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { prefixOfRow } from './resources.js';
import { firstFree, freeRanges } from './runs.js';

type Json = Record<string, unknown>;

/** Where addresses are allocated from: a prefix (its usable range) or an IP range, and the mask to give them. */
export interface AddressPool {
  label: string;
  family: IpFamily;
  start: bigint;
  end: bigint;
  maskLength: number;
}

export function poolOfPrefix(row: Row): AddressPool {
  const prefix = prefixOfRow(row);
  const range = usableRange(prefix, { pool: Boolean(row.is_pool) });
  return { label: `prefix ${String(row.prefix)}`, family: prefix.network.family, start: range.start.value, end: range.end.value, maskLength: prefix.length };
}

export function poolOfRange(row: Row): AddressPool {
  return {
    label: `IP range ${String(row.start_address)}-${String(row.end_address)}`,
    family: Number(row.family) as IpFamily,
    start: addressFromKey(String(row.start_key)).value,
    end: addressFromKey(String(row.end_key)).value,
    maskLength: Number(row.mask_length),
  };
}

/**
 * Allocation of addresses and prefixes, correct under concurrency: each allocation runs in one transaction holding
 * the `ipam` lock (across processes on PostgreSQL), finds the first free address through the used-address runs
 * index (one lookup, however full the prefix), and creates the object through the inventory service so audit,
 * events and tenancy apply as for any other create.
 */
export class IpamService {
  private readonly db: Kysely<Database>;

  constructor(
    private readonly store: Store,
    private readonly inventory: InventoryService,
    private readonly addresses: Resource,
    private readonly prefixes: Resource,
    private readonly ranges: Resource,
  ) {
    this.db = store.db;
  }

  async freeAddresses(pool: AddressPool, limit: number): Promise<Json[]> {
    const out: Json[] = [];
    for (const range of await freeRanges(this.db, pool.family, pool.start, pool.end, limit)) {
      for (let value = range.start; value <= range.end && out.length < limit; value++) {
        out.push({ family: pool.family, address: `${formatAddress(addressOf(pool.family, value))}/${pool.maskLength}`, vrf: null });
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Creates one IP address per request item at the next free addresses of the pool, all or none. */
  async allocateAddresses(pool: AddressPool, items: Json[], paths: string[], principal: Principal): Promise<Row[]> {
    return this.store.transaction(async (tx) => {
      const rows: Row[] = [];
      for (const [index, item] of items.entries()) {
        const row = await this.allocateIn(tx, pool, item, principal, paths[index] ?? 'body');
        if (row === undefined) {
          throw new ConflictError(`an insufficient number of IP addresses are available within ${pool.label} (${items.length} requested, ${index} available)`);
        }
        rows.push(row);
      }
      return rows;
    });
  }

  /** Creates an IP address at the pool's first free address inside a caller's transaction; undefined when full. */
  async allocateIn(tx: Tx, pool: AddressPool, item: Json, principal: Principal, path: string): Promise<Row | undefined> {
    await tx.lock('ipam');
    if ('address' in item) throw new InvalidError(`${path}.address: the address is chosen by the server`, `${path}.address`);
    const value = await firstFree(tx.db, pool.family, pool.start, pool.end);
    if (value === undefined) return undefined;
    const address = `${formatAddress(addressOf(pool.family, value))}/${pool.maskLength}`;
    return this.inventory.createIn(tx, this.addresses, { ...item, address }, principal, path);
  }

  private async childPrefixes(db: Kysely<DynamicDatabase>, parent: Row): Promise<IpPrefix[]> {
    const rows = (await db
      .selectFrom('ipam_prefixes')
      .selectAll()
      .where('family', '=', parent.family)
      .where('start_key', '>=', parent.start_key)
      .where('end_key', '<=', parent.end_key)
      .where('mask_length', '>', parent.mask_length)
      .orderBy('start_key')
      .execute()) as Row[];
    return rows.map(prefixOfRow);
  }

  async freePrefixes(parent: Row): Promise<Json[]> {
    const children = await this.childPrefixes(this.db as unknown as Kysely<DynamicDatabase>, parent);
    return [...availablePrefixes(prefixOfRow(parent), children)].map((prefix) => ({ family: prefix.network.family, prefix: formatPrefix(prefix), vrf: null }));
  }

  /** Creates one child prefix of the requested length per item, in the first free space that fits, all or none. */
  async allocatePrefixes(parent: Row, items: Json[], paths: string[], principal: Principal): Promise<Row[]> {
    const outer = prefixOfRow(parent);
    return this.store.transaction(async (tx) => {
      await tx.lock('ipam');
      const db = tx.db as unknown as Kysely<DynamicDatabase>;
      const rows: Row[] = [];
      for (const [index, item] of items.entries()) {
        const path = paths[index] ?? 'body';
        const { prefix_length: length, ...fields } = item;
        const bits = outer.network.family === 4 ? 32 : 128;
        if (typeof length !== 'number' || !Number.isInteger(length) || length <= outer.length || length > bits) {
          throw new InvalidError(`${path}.prefix_length: must be an integer from ${outer.length + 1} to ${bits}`, `${path}.prefix_length`);
        }
        const block = [...availablePrefixes(outer, await this.childPrefixes(db, parent))].find((free) => free.length <= length);
        if (!block) {
          throw new ConflictError(`insufficient space is available within prefix ${String(parent.prefix)} for a /${length} (${index} of ${items.length} allocated)`);
        }
        const prefix = formatPrefix({ network: block.network, length });
        rows.push(await this.inventory.createIn(tx, this.prefixes, { ...fields, prefix }, principal, path));
      }
      return rows;
    });
  }

  /** "Whose is this address?": the narrowest prefix holding it, the IP ranges holding it, and its IP address object. */
  async whois(text: string, principal: Principal): Promise<{ address: IpAddress; prefix: Row | null; ranges: Row[]; ipAddress: Row | null }> {
    const address = parseAddress(text.includes('/') ? text.slice(0, text.indexOf('/')) : text, 'query.address');
    const key = addressKey(address);
    const family: FilterCondition = { kind: 'in', column: 'family', values: [address.family] };
    const holding: FilterCondition[] = [family, { kind: 'compare', column: 'start_key', op: '<=', value: key }, { kind: 'compare', column: 'end_key', op: '>=', value: key }];
    const db = this.db as unknown as Kysely<DynamicDatabase>;
    const find = async (resource: Resource, conditions: FilterCondition[], order: string, limit: number) =>
      (await db
        .selectFrom(resource.table)
        .selectAll()
        .where(whereSql([...conditions, ...(await this.inventory.tenancyConditions(resource, principal))], resource.table))
        .orderBy(order, 'desc')
        .limit(limit)
        .execute()) as Row[];
    const [prefix] = await find(this.prefixes, holding, 'mask_length', 1);
    const ranges = await find(this.ranges, holding, 'start_key', 100);
    const [ipAddress] = await find(this.addresses, [family, { kind: 'in', column: 'key', values: [key] }], 'id', 1);
    return { address, prefix: prefix ?? null, ranges, ipAddress: ipAddress ?? null };
  }
}
