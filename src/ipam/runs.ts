import type { Kysely } from 'kysely';
import { ConflictError } from '../core/errors.js';
import {
  addressFromKey,
  addressKey,
  addressOf,
  formatAddress,
  freeRanges as freeStretches,
  nextAddress,
  previousAddress,
  type IpAddress,
  type IpFamily,
} from '../core/net/index.js';
import type { Database } from '../store/schema.js';

/**
 * The used IP addresses as maximal runs of consecutive addresses (table ipam_used_runs): no two runs overlap or
 * touch, so the address after a run is always free. Every question below is then one or two lookups on the
 * (family, start_key) index however many addresses are used: the run holding a point is the last one starting
 * at or before it.
 *
 * These functions read and then write without locking. Callers that change the set hold `tx.lock('ipam')` for
 * the whole transaction (a PostgreSQL advisory lock; SQLite transactions already exclude other writers), so no
 * two writers interleave and the runs stay maximal.
 */

interface Run {
  id: number;
  start: bigint;
  end: bigint;
}

interface RunRow {
  id: number;
  start_key: string;
  end_key: string;
}

/** Rows fetched per query by usedCount, which has to visit every run in its range. */
const COUNT_PAGE = 10_000;

function keyOf(family: IpFamily, value: bigint): string {
  return addressKey(addressOf(family, value));
}

function runOf(row: RunRow): Run {
  return { id: row.id, start: addressFromKey(row.start_key).value, end: addressFromKey(row.end_key).value };
}

function runsOf(db: Kysely<Database>, family: IpFamily) {
  return db.selectFrom('ipam_used_runs').select(['id', 'start_key', 'end_key']).where('family', '=', family);
}

/** The last run starting at or before `value`; it holds `value` only if it also ends at or after it. */
async function runAtOrBefore(db: Kysely<Database>, family: IpFamily, value: bigint): Promise<Run | undefined> {
  const row = await runsOf(db, family).where('start_key', '<=', keyOf(family, value)).orderBy('start_key', 'desc').limit(1).executeTakeFirst();
  return row && runOf(row);
}

async function runHolding(db: Kysely<Database>, family: IpFamily, value: bigint): Promise<Run | undefined> {
  const run = await runAtOrBefore(db, family, value);
  return run !== undefined && run.end >= value ? run : undefined;
}

async function setRun(db: Kysely<Database>, id: number, change: { start_key?: string; end_key?: string }): Promise<void> {
  await db.updateTable('ipam_used_runs').set(change).where('id', '=', id).execute();
}

async function deleteRun(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('ipam_used_runs').where('id', '=', id).execute();
}

/** Marks `address` used, joining the runs on either side; ConflictError when it already is. */
export async function markUsed(db: Kysely<Database>, address: IpAddress): Promise<void> {
  const { family, value } = address;
  const before = await runAtOrBefore(db, family, value);
  if (before !== undefined && before.end >= value) throw new ConflictError(`${formatAddress(address)} is already in use`);
  const next = nextAddress(address);
  const afterRow = next && (await runsOf(db, family).where('start_key', '=', addressKey(next)).executeTakeFirst());
  const after = afterRow && runOf(afterRow);
  const joinsBefore = before !== undefined && before.end + 1n === value;
  if (joinsBefore && after !== undefined) {
    await deleteRun(db, after.id);
    await setRun(db, before.id, { end_key: keyOf(family, after.end) });
  } else if (joinsBefore) {
    await setRun(db, before.id, { end_key: addressKey(address) });
  } else if (after !== undefined) {
    await setRun(db, after.id, { start_key: addressKey(address) });
  } else {
    await db.insertInto('ipam_used_runs').values({ family, start_key: addressKey(address), end_key: addressKey(address) }).execute();
  }
}

/** Marks `address` free, shrinking or splitting the run that holds it; an Error when it is not in use. */
export async function markFree(db: Kysely<Database>, address: IpAddress): Promise<void> {
  const { family, value } = address;
  const run = await runHolding(db, family, value);
  if (run === undefined) throw new Error(`${formatAddress(address)} is not in use`);
  // Inside a run, the neighbours of `address` exist and are themselves inside the run.
  const previous = run.start < value ? previousAddress(address) : undefined;
  const next = run.end > value ? nextAddress(address) : undefined;
  if (previous === undefined) {
    await (next === undefined ? deleteRun(db, run.id) : setRun(db, run.id, { start_key: addressKey(next) }));
  } else if (next === undefined) {
    await setRun(db, run.id, { end_key: addressKey(previous) });
  } else {
    await setRun(db, run.id, { end_key: addressKey(previous) });
    await db.insertInto('ipam_used_runs').values({ family, start_key: addressKey(next), end_key: keyOf(family, run.end) }).execute();
  }
}

export async function isUsed(db: Kysely<Database>, address: IpAddress): Promise<boolean> {
  return (await runHolding(db, address.family, address.value)) !== undefined;
}

/** The lowest free address in [start, end], or undefined when all are used: one index lookup. */
export async function firstFree(db: Kysely<Database>, family: IpFamily, start: bigint, end: bigint): Promise<bigint | undefined> {
  if (start > end) return undefined;
  const holding = await runHolding(db, family, start);
  if (holding === undefined) return start;
  // Runs are maximal, so the address after one is free.
  return holding.end < end ? holding.end + 1n : undefined;
}

/**
 * The first `limit` free stretches of [start, end], in order. Each run starting inside the range ends the free
 * stretch before it, so the run holding `start` and the next `limit` runs are all that need reading.
 */
export async function freeRanges(
  db: Kysely<Database>,
  family: IpFamily,
  start: bigint,
  end: bigint,
  limit: number,
): Promise<Array<{ start: bigint; end: bigint }>> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a whole number >= 0, got ${limit}`);
  if (limit === 0 || start > end) return [];
  const first = await runAtOrBefore(db, family, start);
  const rows = await runsOf(db, family)
    .where('start_key', '>', keyOf(family, start))
    .where('start_key', '<=', keyOf(family, end))
    .orderBy('start_key')
    .limit(limit)
    .execute();
  const used = [...(first === undefined ? [] : [first]), ...rows.map(runOf)].map((run) => ({
    start: addressOf(family, run.start),
    end: addressOf(family, run.end),
  }));
  const free: Array<{ start: bigint; end: bigint }> = [];
  // With `limit` runs read, the stretch after the last of them is never reached: the `limit` before them come first.
  for (const stretch of freeStretches({ start: addressOf(family, start), end: addressOf(family, end) }, used)) {
    free.push({ start: stretch.start.value, end: stretch.end.value });
    if (free.length === limit) break;
  }
  return free;
}

/** How many addresses of [start, end] are used (for utilisation): reads every run in the range, in pages. */
export async function usedCount(db: Kysely<Database>, family: IpFamily, start: bigint, end: bigint): Promise<bigint> {
  if (start > end) return 0n;
  const clippedSize = (run: Run) => (run.end < end ? run.end : end) - (run.start > start ? run.start : start) + 1n;
  const holding = await runHolding(db, family, start);
  let total = holding === undefined ? 0n : clippedSize(holding);
  let afterKey = keyOf(family, start);
  for (;;) {
    const rows = await runsOf(db, family)
      .where('start_key', '>', afterKey)
      .where('start_key', '<=', keyOf(family, end))
      .orderBy('start_key')
      .limit(COUNT_PAGE)
      .execute();
    for (const row of rows) total += clippedSize(runOf(row));
    const last = rows.at(-1);
    if (last === undefined || rows.length < COUNT_PAGE) return total;
    afterKey = last.start_key;
  }
}
