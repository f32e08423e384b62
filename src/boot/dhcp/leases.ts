/**
 * The in-memory lease table of the DHCP server: one record per address, an index by (subnet, MAC), and a scan
 * for the next free pool address. Pure: expiry is a time comparison against the `now` the caller passes, there
 * are no timers. The store feeds it with load() on start and the engine keeps it current with apply().
 */

import { numberToDottedQuad, parseDottedQuad } from '../../core/net/index.js';
import { compileSubnet, type CompiledSubnet, type SubnetConfig } from './subnet.js';

export type LeaseState = 'offered' | 'bound' | 'declined' | 'released';

export interface LeaseRecord {
  readonly address: string;
  /** null for a declined (quarantined) address: it belongs to nobody. */
  readonly mac: string | null;
  readonly subnet: string;
  readonly state: LeaseState;
  /** Milliseconds since the epoch; a released record is free whatever it says. */
  readonly expiresAt: number;
  readonly hostname: string | null;
  /** Option 61 as colon-separated hex, for the record only: identity is the MAC. */
  readonly clientId: string | null;
}

/** True while the record keeps its address from everyone else: offered, bound or declined, and not expired. */
export function leaseHolds(record: LeaseRecord, now: number): boolean {
  return record.state !== 'released' && record.expiresAt > now;
}

/** A full scan that found nothing is trusted this long at most (reservations may change meanwhile). */
const EXHAUSTED_RECHECK_MS = 5_000;

/** Where the next-free scan of one subnet resumes: a pool index and an address in it. */
interface PoolCursor {
  pool: number;
  address: number;
  /** After a fruitless full scan: until when, and at which release generation, to answer at once. */
  exhaustedUntil: number;
  exhaustedGeneration: number;
}

/** Records per MAC and subnet the index keeps: the current lease or offer and a few earlier addresses. */
const MAX_RECORDS_PER_MAC = 4;

export class LeaseTable {
  /** Keyed by the address as a signed 32-bit number (slotKey): small integers make the fastest Map keys. */
  private readonly records = new Map<number, LeaseRecord>();
  /** subnet name -> MAC -> keys of the MAC's records there, weakest first: released ones first, the latest last. */
  private readonly macs = new Map<string, Map<string, number[]>>();
  private cursors = new WeakMap<CompiledSubnet, PoolCursor>();
  /** subnet name -> count of records that may have freed an address, so a pool found full is rescanned after one. */
  private readonly releases = new Map<string, number>();

  /**
   * Replaces the contents with stored records (on start). Storage is keyed by address; if an address comes twice
   * the record that holds longer wins, so a valid bound lease is never shadowed by a stale one.
   */
  load(records: Iterable<LeaseRecord>): void {
    this.records.clear();
    this.macs.clear();
    this.releases.clear();
    this.cursors = new WeakMap();
    for (const record of records) {
      const key = slotKey(record.address);
      const earlier = this.records.get(key);
      if (earlier === undefined || compareHold(record, earlier) >= 0) this.records.set(key, record);
    }
    for (const [key, record] of this.records) {
      if (record.mac === null) continue;
      const index = this.macIndex(record.subnet);
      const keys = index.get(record.mac);
      if (keys === undefined) index.set(record.mac, [key]);
      else keys.push(key);
    }
    // Strongest last: bound before offered before released, then the latest expiry.
    for (const index of this.macs.values()) {
      for (const [mac, keys] of index) {
        if (keys.length === 1) continue;
        keys.sort((a, b) => compareHold(this.records.get(a)!, this.records.get(b)!));
        index.set(mac, keys.slice(-MAX_RECORDS_PER_MAC));
      }
    }
  }

  get size(): number {
    return this.records.size;
  }

  /** Every record, in no particular order (for listings and tests). */
  values(): IterableIterator<LeaseRecord> {
    return this.records.values();
  }

  byAddress(address: string): LeaseRecord | undefined {
    return this.records.get(slotKey(address));
  }

  /**
   * The MAC's current record in the subnet, valid or not: its latest offer or lease, else the address it last
   * released. Undefined once its addresses went to others.
   */
  byMac(subnet: string, mac: string): LeaseRecord | undefined {
    const keys = this.macs.get(subnet)?.get(mac);
    if (keys === undefined) return undefined;
    // Newest first, without allocating: this runs for every DISCOVER.
    for (let i = keys.length - 1; i >= 0; i--) {
      const record = this.records.get(keys[i]!);
      if (record !== undefined && record.mac === mac && record.subnet === subnet) return record;
    }
    return undefined;
  }

  /** The MAC's records in the subnet that are still its own, byMac's last; a few at most. */
  recordsOf(subnet: string, mac: string): LeaseRecord[] {
    const index = this.macs.get(subnet);
    const keys = index?.get(mac);
    if (keys === undefined) return [];
    const records: LeaseRecord[] = [];
    for (const key of keys) {
      const record = this.records.get(key);
      if (record !== undefined && record.mac === mac && record.subnet === subnet) records.push(record);
    }
    if (records.length === 0) index!.delete(mac);
    else if (records.length !== keys.length) index!.set(mac, records.map((record) => slotKey(record.address)));
    return records;
  }

  /**
   * Stores a record, replacing the one at its address. In the MAC index the record becomes the MAC's current
   * one, except a release, which goes behind the MAC's other records.
   */
  apply(record: LeaseRecord): void {
    const key = slotKey(record.address);
    const previous = this.records.get(key);
    this.records.set(key, record);
    // A release or a shortened hold may free an address: a pool found full is scanned again.
    if (previous !== undefined && (record.state === 'released' || record.expiresAt < previous.expiresAt)) {
      this.releases.set(record.subnet, (this.releases.get(record.subnet) ?? 0) + 1);
    }
    if (record.mac === null) return;
    const index = this.macIndex(record.subnet);
    const keys = (index.get(record.mac) ?? []).filter((other) => other !== key);
    if (record.state === 'released') keys.unshift(key);
    else keys.push(key);
    index.set(record.mac, keys.length > MAX_RECORDS_PER_MAC ? keys.slice(-MAX_RECORDS_PER_MAC) : keys);
  }

  /**
   * The next pool address of the subnet that no valid record holds and `excluded` does not refuse, scanning on
   * from where the last call stopped and wrapping around once; undefined when the pools are full. Expired and
   * released addresses are reused. Cost is proportional to the addresses skipped, so a huge, sparsely used pool
   * is cheap and a full one answers at once until a lease expires or is released (or a few seconds pass).
   */
  nextFree(subnetConfig: SubnetConfig, now: number, excluded: (address: string) => boolean): string | undefined {
    const subnet = compileSubnet(subnetConfig);
    const pools = subnet.pools;
    if (pools.length === 0) return undefined;
    let cursor = this.cursors.get(subnet);
    if (cursor === undefined) {
      cursor = { pool: 0, address: pools[0]!.start, exhaustedUntil: 0, exhaustedGeneration: 0 };
      this.cursors.set(subnet, cursor);
    }
    const generation = this.releases.get(subnet.name) ?? 0;
    if (now < cursor.exhaustedUntil && generation === cursor.exhaustedGeneration) return undefined;

    let earliestExpiry = now + EXHAUSTED_RECHECK_MS;
    let poolIndex = cursor.pool;
    // pools.length + 1 visits: the cursor's pool from the cursor, the others whole, the cursor's pool up to it.
    for (let visit = 0; visit <= pools.length; visit++) {
      const pool = pools[poolIndex]!;
      const first = visit === 0 ? Math.max(cursor.address, pool.start) : pool.start;
      const last = visit === pools.length ? Math.min(cursor.address - 1, pool.end) : pool.end;
      for (let address = first; address <= last; address++) {
        const record = this.records.get(address | 0);
        if (record !== undefined && leaseHolds(record, now)) {
          if (record.expiresAt < earliestExpiry) earliestExpiry = record.expiresAt;
          continue;
        }
        const text = numberToDottedQuad(address);
        if (excluded(text)) continue;
        cursor.pool = poolIndex;
        cursor.address = address + 1;
        return text;
      }
      poolIndex = (poolIndex + 1) % pools.length;
    }
    cursor.exhaustedUntil = earliestExpiry;
    cursor.exhaustedGeneration = generation;
    return undefined;
  }

  private macIndex(subnet: string): Map<string, number[]> {
    let index = this.macs.get(subnet);
    if (index === undefined) {
      index = new Map();
      this.macs.set(subnet, index);
    }
    return index;
  }
}

function slotKey(address: string): number {
  return parseDottedQuad(address) | 0;
}

const STATE_RANK: Record<LeaseState, number> = { released: 0, declined: 1, offered: 2, bound: 3 };

/** Orders two records of one address or one MAC by how strongly they hold: state first, then expiry. */
function compareHold(a: LeaseRecord, b: LeaseRecord): number {
  return STATE_RANK[a.state] - STATE_RANK[b.state] || a.expiresAt - b.expiresAt;
}
