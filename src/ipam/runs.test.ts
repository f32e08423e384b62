import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { ConflictError } from '../core/errors.js';
import { addressFromKey, addressKey, addressOf, parseAddress, type IpFamily } from '../core/net/index.js';
import { createTestDatabase, testBackends, type TestDatabase } from '../store/database-fixture.js';
import type { Database } from '../store/schema.js';
import { Store, type StoreLocation } from '../store/store.js';
import { firstFree, freeRanges, isUsed, markFree, markUsed, usedCount } from './runs.js';

type Span = [start: bigint, end: bigint];

const v4 = (value: bigint) => addressOf(4, value);
const value = (text: string) => parseAddress(text).value;

async function tableRuns(db: Kysely<Database>, family: IpFamily): Promise<Span[]> {
  const rows = await db.selectFrom('ipam_used_runs').select(['start_key', 'end_key']).where('family', '=', family).orderBy('start_key').execute();
  return rows.map((row) => [addressFromKey(row.start_key).value, addressFromKey(row.end_key).value]);
}

/** Maximal runs of a set of addresses: the shape the table must always have. */
function runsOfSet(used: Set<bigint>): Span[] {
  const runs: Span[] = [];
  for (const address of [...used].sort((a, b) => (a < b ? -1 : 1))) {
    const last = runs.at(-1);
    if (last !== undefined && last[1] + 1n === address) last[1] = address;
    else runs.push([address, address]);
  }
  return runs;
}

function freeRangesOfSet(used: Set<bigint>, start: bigint, end: bigint, limit: number): Array<{ start: bigint; end: bigint }> {
  const free: Array<{ start: bigint; end: bigint }> = [];
  for (let address = start; address <= end && free.length <= limit; address++) {
    if (used.has(address)) continue;
    const last = free.at(-1);
    if (last !== undefined && last.end + 1n === address) last.end = address;
    else free.push({ start: address, end: address });
  }
  return free.slice(0, limit);
}

/** One allocator as a service would run it: its own transaction, under the ipam lock, first free then mark used. */
async function allocate(store: Store, start: bigint, end: bigint): Promise<bigint> {
  return store.transaction(async (tx) => {
    await tx.lock('ipam');
    const free = await firstFree(tx.db, 4, start, end);
    if (free === undefined) throw new Error('window full');
    await markUsed(tx.db, v4(free));
    return free;
  });
}

interface AllocatorsJob {
  location: StoreLocation;
  count: number;
  start: bigint;
  end: bigint;
}

/** `count` allocators in parallel on a Store of their own, as one Hangar process would run them. */
async function allocateFromOwnStore(job: AllocatorsJob): Promise<bigint[]> {
  const store = await Store.open(job.location);
  try {
    return await Promise.all(Array.from({ length: job.count }, () => allocate(store, job.start, job.end)));
  } finally {
    await store.close();
  }
}

/**
 * The same in a worker thread. better-sqlite3 waits for a busy database synchronously, which would block a
 * second SQLite Store in this thread along with the first; a thread of its own stands in for a process.
 */
function allocateInWorker(job: AllocatorsJob): Promise<bigint[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', (addresses: bigint[]) => resolve(addresses));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`allocator worker exited with ${code} before answering`)));
  });
}

async function bulkInsertRuns(store: Store, family: IpFamily, runs: Span[]): Promise<void> {
  const rows = runs.map(([start, end]) => ({ family, start_key: addressKey(addressOf(family, start)), end_key: addressKey(addressOf(family, end)) }));
  // Chunks stay under both backends' bound-parameter limits.
  await store.transaction(async (tx) => {
    for (let at = 0; at < rows.length; at += 5000) await tx.db.insertInto('ipam_used_runs').values(rows.slice(at, at + 5000)).execute();
  });
}

if (!isMainThread) {
  parentPort!.postMessage(await allocateFromOwnStore(workerData as AllocatorsJob));
} else {
  for (const backend of testBackends) {
    describe(`used-address runs on ${backend}`, () => {
      let database: TestDatabase;
      let store: Store;
      before(async () => {
        database = await createTestDatabase(backend);
        store = await Store.open(database.location);
      });
      after(async () => {
        await store.close();
        await database.drop();
      });
      beforeEach(async () => {
        await store.db.deleteFrom('ipam_used_runs').execute();
      });

      test('neighbours merge into one run; freeing splits or shrinks it; double use conflicts', async () => {
        const base = value('10.0.0.0');
        const use = (offset: bigint) => markUsed(store.db, v4(base + offset));
        const free = (offset: bigint) => markFree(store.db, v4(base + offset));
        const runs = async () => (await tableRuns(store.db, 4)).map(([start, end]) => [start - base, end - base]);

        await use(1n);
        await use(3n);
        assert.deepEqual(await runs(), [[1n, 1n], [3n, 3n]]);
        await use(2n);
        assert.deepEqual(await runs(), [[1n, 3n]]);
        await free(2n);
        assert.deepEqual(await runs(), [[1n, 1n], [3n, 3n]]);
        await use(2n);
        await use(4n);
        await use(0n);
        assert.deepEqual(await runs(), [[0n, 4n]]);
        await free(0n);
        assert.deepEqual(await runs(), [[1n, 4n]]);
        await free(4n);
        assert.deepEqual(await runs(), [[1n, 3n]]);

        await assert.rejects(use(2n), (error) => error instanceof ConflictError && /10\.0\.0\.2 is already in use/.test(error.message));
        await assert.rejects(free(7n), /10\.0\.0\.7 is not in use/);
        assert.deepEqual(await runs(), [[1n, 3n]]);
        assert.equal(await isUsed(store.db, v4(base + 2n)), true);
        assert.equal(await isUsed(store.db, v4(base + 4n)), false);
        assert.equal(await usedCount(store.db, 4, base, base + 2n), 2n);
        assert.equal(await usedCount(store.db, 4, base + 2n, base + 9n), 2n);

        for (const offset of [1n, 3n, 2n]) await free(offset);
        assert.deepEqual(await runs(), []);
      });

      test('agrees with a set of addresses under random use and release', async () => {
        const size = 32;
        const command = fc.oneof(
          { weight: 3, arbitrary: fc.record({ op: fc.constant('use' as const), at: fc.nat(size - 1) }) },
          { weight: 2, arbitrary: fc.record({ op: fc.constant('free' as const), at: fc.nat(size - 1) }) },
          {
            weight: 2,
            arbitrary: fc.record({ op: fc.constant('query' as const), from: fc.nat(size - 1), to: fc.nat(size - 1), limit: fc.integer({ min: 1, max: 6 }) }),
          },
        );
        // A window in the middle of the space and one ending at 255.255.255.255.
        const window = fc.constantFrom(value('10.0.0.0'), value('255.255.255.224'));
        await fc.assert(
          fc.asyncProperty(window, fc.array(command, { minLength: 1, maxLength: 40 }), async (base, commands) => {
            await store.db.deleteFrom('ipam_used_runs').execute();
            const used = new Set<bigint>();
            for (const step of commands) {
              if (step.op === 'query') {
                const [from, to] = [base + BigInt(step.from), base + BigInt(step.to)];
                assert.equal(await isUsed(store.db, v4(from)), used.has(from));
                assert.equal(await firstFree(store.db, 4, from, to), freeRangesOfSet(used, from, to, 1)[0]?.start);
                assert.deepEqual(await freeRanges(store.db, 4, from, to, step.limit), freeRangesOfSet(used, from, to, step.limit));
                assert.equal(await usedCount(store.db, 4, from, to), BigInt([...used].filter((a) => a >= from && a <= to).length));
                continue;
              }
              const address = base + BigInt(step.at);
              if (step.op === 'use') {
                if (used.has(address)) await assert.rejects(markUsed(store.db, v4(address)), ConflictError);
                else await markUsed(store.db, v4(address));
                used.add(address);
              } else {
                if (!used.has(address)) await assert.rejects(markFree(store.db, v4(address)), /not in use/);
                else await markFree(store.db, v4(address));
                used.delete(address);
              }
              assert.deepEqual(await tableRuns(store.db, 4), runsOfSet(used));
            }
          }),
          { numRuns: 300 },
        );
      });

      test('the top of the IPv4 and IPv6 spaces, and the families kept apart', async () => {
        const v4Top = value('255.255.255.255');
        await markUsed(store.db, v4(v4Top));
        await markUsed(store.db, v4(v4Top - 1n));
        assert.deepEqual(await tableRuns(store.db, 4), [[v4Top - 1n, v4Top]]);
        assert.equal(await firstFree(store.db, 4, v4Top - 1n, v4Top), undefined);
        assert.equal(await firstFree(store.db, 4, v4Top - 3n, v4Top), v4Top - 3n);
        assert.deepEqual(await freeRanges(store.db, 4, v4Top - 15n, v4Top, 10), [{ start: v4Top - 15n, end: v4Top - 2n }]);
        assert.equal(await usedCount(store.db, 4, 0n, v4Top), 2n);
        await markFree(store.db, v4(v4Top));
        assert.equal(await firstFree(store.db, 4, v4Top - 1n, v4Top), v4Top);

        const v6Top = value('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
        const v6 = (at: bigint) => addressOf(6, at);
        await markUsed(store.db, v6(v6Top));
        await markUsed(store.db, v6(v6Top - 1n));
        assert.deepEqual(await tableRuns(store.db, 6), [[v6Top - 1n, v6Top]]);
        assert.equal(await isUsed(store.db, v6(v6Top)), true);
        assert.equal(await firstFree(store.db, 6, v6Top - 1n, v6Top), undefined);
        assert.equal(await firstFree(store.db, 6, value('ffff:ffff:ffff:ffff::'), v6Top), value('ffff:ffff:ffff:ffff::'));
        assert.deepEqual(await freeRanges(store.db, 6, v6Top - 4n, v6Top, 5), [{ start: v6Top - 4n, end: v6Top - 2n }]);
        assert.equal(await usedCount(store.db, 6, 0n, v6Top), 2n);
        await markFree(store.db, v6(v6Top - 1n));
        assert.deepEqual(await freeRanges(store.db, 6, v6Top - 4n, v6Top, 5), [{ start: v6Top - 4n, end: v6Top - 1n }]);

        // The same number in both families: two addresses, two runs.
        await markUsed(store.db, v4(0n));
        await markUsed(store.db, v6(0n));
        await markFree(store.db, v4(0n));
        assert.equal(await isUsed(store.db, v6(0n)), true);
        assert.equal(await isUsed(store.db, v4(0n)), false);
        assert.equal(await firstFree(store.db, 6, 0n, 10n), 1n);
      });

      test('50 allocators on two stores at once get 50 different addresses', async () => {
        const job = { location: database.location, count: 25, start: value('192.0.2.0'), end: value('192.0.2.255') };
        const run = backend === 'sqlite' ? allocateInWorker : allocateFromOwnStore;
        const addresses = (await Promise.all([run(job), run(job)])).flat();
        assert.equal(addresses.length, 50);
        assert.equal(new Set(addresses).size, 50);
        // Serialised by the lock, they took the window's first 50 addresses, one after the other.
        assert.deepEqual(
          [...addresses].sort((a, b) => (a < b ? -1 : 1)),
          Array.from({ length: 50 }, (_, index) => job.start + BigInt(index)),
        );
        assert.equal(await usedCount(store.db, 4, job.start, job.end), 50n);
        assert.deepEqual(await tableRuns(store.db, 4), [[job.start, job.start + 49n]]);
      });

      test('with 100,000 used and 50,000 runs, answers stay indexed lookups', async (t) => {
        const start = value('10.0.0.0');
        const end = value('10.255.255.255');
        // 100,000 used from the window start but for 100 scattered holes, then 50,000 single used addresses.
        const holes = Array.from({ length: 100 }, (_, index) => start + BigInt(index * 997 + 13));
        const runs: Span[] = [];
        let cursor = start;
        for (const hole of holes) {
          runs.push([cursor, hole - 1n]);
          cursor = hole + 1n;
        }
        runs.push([cursor, start + 99_999n]);
        const singlesStart = start + 200_000n;
        for (let index = 0n; index < 50_000n; index++) runs.push([singlesStart + 2n * index, singlesStart + 2n * index]);
        await bulkInsertRuns(store, 4, runs);
        assert.equal(await usedCount(store.db, 4, start, end), 100_000n - 100n + 50_000n);

        const began = performance.now();
        const probes = 200;
        for (let index = 0n; index < BigInt(probes); index++) {
          const point = singlesStart + 2n * ((index * 7919n) % 50_000n);
          assert.equal(await firstFree(store.db, 4, point, end), point + 1n);
        }
        const perLookup = (performance.now() - began) / probes;
        t.diagnostic(`firstFree: ${perLookup.toFixed(3)} ms a lookup`);
        assert.ok(perLookup < 5, `firstFree took ${perLookup} ms a lookup`);

        assert.deepEqual(await freeRanges(store.db, 4, singlesStart + 60_000n, end, 3), [
          { start: singlesStart + 60_001n, end: singlesStart + 60_001n },
          { start: singlesStart + 60_003n, end: singlesStart + 60_003n },
          { start: singlesStart + 60_005n, end: singlesStart + 60_005n },
        ]);
        assert.deepEqual(await freeRanges(store.db, 4, start, singlesStart + 1n, 2), [
          { start: holes[0]!, end: holes[0]! },
          { start: holes[1]!, end: holes[1]! },
        ]);

        // Allocation fills the holes in order, then continues after the block.
        for (const hole of holes) assert.equal(await allocate(store, start, end), hole);
        assert.equal(await allocate(store, start, end), start + 100_000n);
        assert.deepEqual((await tableRuns(store.db, 4)).slice(0, 2), [
          [start, start + 100_000n],
          [singlesStart, singlesStart],
        ]);
        assert.equal(await usedCount(store.db, 4, start, end), 150_001n);
        assert.equal(await usedCount(store.db, 4, singlesStart + 1n, singlesStart + 9n), 4n);
      });
    });
  }
}
