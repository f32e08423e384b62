/**
 * The stored side of the lease table: dhcp_leases rows (migration 0005), one per address, indexed from the lease
 * journal; and how far each journal has been indexed (dhcp_journals, migration 0006).
 */

import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { JournalLease, JournalPosition } from './lease-journal.js';
import type { LeaseRecord, LeaseState } from './leases.js';

interface DhcpLeaseRow {
  address: string;
  mac: string | null;
  subnet: string;
  state: string;
  expires_at: number | string | bigint;
  hostname: string | null;
  client_id: string | null;
  updated: string;
}

interface LeaseTables {
  dhcp_leases: DhcpLeaseRow;
  dhcp_journals: { journal: string; segment: number | string | bigint; byte_offset: number | string | bigint };
}

const STATES: ReadonlySet<string> = new Set<LeaseState>(['offered', 'bound', 'declined', 'released']);

export async function loadLeases(db: Kysely<unknown>): Promise<LeaseRecord[]> {
  const rows = await (db as Kysely<LeaseTables>).selectFrom('dhcp_leases').selectAll().execute();
  return rows
    .filter((row) => STATES.has(row.state))
    .map((row) => ({
      address: row.address,
      mac: row.mac,
      subnet: row.subnet,
      state: row.state as LeaseState,
      expiresAt: Number(row.expires_at),
      hostname: row.hostname,
      clientId: row.client_id,
    }));
}

/** Rows per INSERT: well under SQLite's 32,766 bound parameters at 8 per row. */
const ROWS_PER_STATEMENT = 500;

/** Upserts by address, in the caller's transaction. Later records of one address win. */
export async function saveLeases(db: Kysely<unknown>, changes: readonly JournalLease[]): Promise<void> {
  const latest = new Map<string, JournalLease>();
  for (const change of changes) latest.set(change.lease.address, change);
  const rows: DhcpLeaseRow[] = [...latest.values()].map(({ lease: record, updated }) => ({
    address: record.address,
    mac: record.mac,
    subnet: record.subnet,
    state: record.state,
    expires_at: record.expiresAt,
    hostname: record.hostname,
    client_id: record.clientId,
    updated,
  }));
  const leases = db as Kysely<LeaseTables>;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    await leases
      .insertInto('dhcp_leases')
      .values(rows.slice(i, i + ROWS_PER_STATEMENT))
      .onConflict((conflict) =>
        conflict.column('address').doUpdateSet((eb) => ({
          mac: eb.ref('excluded.mac'),
          subnet: eb.ref('excluded.subnet'),
          state: eb.ref('excluded.state'),
          expires_at: eb.ref('excluded.expires_at'),
          hostname: eb.ref('excluded.hostname'),
          client_id: eb.ref('excluded.client_id'),
          updated: eb.ref('excluded.updated'),
        })),
      )
      .execute();
  }
}

export interface LeaseFilter {
  mac?: string | undefined;
  state?: LeaseState | undefined;
  subnet?: string | undefined;
}

/** A page of leases by address, with the total that match; for /api/dhcp/leases/. */
export async function listLeases(db: Kysely<unknown>, filter: LeaseFilter, window: { limit: number; offset: number }): Promise<{ count: number; rows: DhcpLeaseRow[] }> {
  let query = (db as Kysely<LeaseTables>).selectFrom('dhcp_leases');
  if (filter.mac !== undefined) query = query.where('mac', '=', filter.mac);
  if (filter.state !== undefined) query = query.where('state', '=', filter.state);
  if (filter.subnet !== undefined) query = query.where('subnet', '=', filter.subnet);
  const { count } = await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  const rows = await query.selectAll().orderBy('address').limit(window.limit).offset(window.offset).execute();
  return { count: Number(count), rows };
}

/** A journal's name in dhcp_journals: its host and directory, so servers sharing a PostgreSQL store keep apart. */
/**
 * The MAC of the machine at `address` as Hangar's DHCP server leased it (offered or bound), for naming TFTP and
 * HTTP boot events by machine; null when Hangar gave that address to no one.
 */
export async function leaseHolder(db: Kysely<unknown>, address: string): Promise<string | null> {
  const row = await (db as Kysely<LeaseTables>)
    .selectFrom('dhcp_leases')
    .select('mac')
    .where('address', '=', address.replace(/^::ffff:/, ''))
    .where('state', 'in', ['offered', 'bound'])
    .executeTakeFirst();
  return row?.mac ?? null;
}

export function journalName(journalDir: string): string {
  return `${hostname()}:${journalDir}`;
}

/** Where the store's indexing of a journal stopped; segment 0 when it never started. */
export async function indexedPosition(db: Kysely<unknown>, journal: string): Promise<JournalPosition> {
  const row = await (db as Kysely<LeaseTables>).selectFrom('dhcp_journals').select(['segment', 'byte_offset']).where('journal', '=', journal).executeTakeFirst();
  return { segment: Number(row?.segment ?? 0), offset: Number(row?.byte_offset ?? 0) };
}

/** Records, in the caller's transaction, where indexing has got to. */
export async function setIndexedPosition(db: Kysely<unknown>, journal: string, position: JournalPosition): Promise<void> {
  await (db as Kysely<LeaseTables>)
    .insertInto('dhcp_journals')
    .values({ journal, segment: position.segment, byte_offset: position.offset })
    .onConflict((conflict) => conflict.column('journal').doUpdateSet({ segment: position.segment, byte_offset: position.offset }))
    .execute();
}
