import { numberToDottedQuad, parseDottedQuad } from '../../core/net/index.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { leaseHolds, LeaseTable, type LeaseRecord, type LeaseState } from './leases.js';
import { type SubnetConfig } from './subnet.js';
import { lanSubnet } from './engine-fixture.js';

const NOW = 1_700_000_000_000;
const never = (): boolean => false;

function lease(address: string, mac: string | null, state: LeaseState = 'bound', expiresAt = NOW + 3_600_000, subnet = 'lan'): LeaseRecord {
  return { address, mac, subnet, state, expiresAt, hostname: null, clientId: null };
}

function smallPool(start: string, end: string, extra: Partial<SubnetConfig> = {}): SubnetConfig {
  return lanSubnet({ pools: [{ start, end }], ...extra });
}

describe('leaseHolds', () => {
  test('offered, bound and declined hold until they expire; released never holds', () => {
    for (const state of ['offered', 'bound', 'declined'] as const) {
      assert.equal(leaseHolds(lease('10.0.0.1', 'aa', state, NOW + 1), NOW), true, state);
      assert.equal(leaseHolds(lease('10.0.0.1', 'aa', state, NOW), NOW), false, `${state} at its expiry`);
    }
    assert.equal(leaseHolds(lease('10.0.0.1', 'aa', 'released', NOW + 1_000_000), NOW), false);
  });
});

describe('LeaseTable lookups', () => {
  test('byAddress and byMac find the applied record; the MAC index is per subnet', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', 'aa:aa:aa:aa:aa:01'));
    assert.equal(table.byAddress('10.0.0.100')?.mac, 'aa:aa:aa:aa:aa:01');
    assert.equal(table.byMac('lan', 'aa:aa:aa:aa:aa:01')?.address, '10.0.0.100');
    assert.equal(table.byMac('rack', 'aa:aa:aa:aa:aa:01'), undefined);
    assert.equal(table.byAddress('10.0.0.101'), undefined);
    assert.equal(table.size, 1);
  });

  test('an address given to another MAC is no longer the first MAC’s', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', 'aa', 'released', NOW));
    table.apply(lease('10.0.0.100', 'bb', 'offered'));
    assert.equal(table.byMac('lan', 'aa'), undefined);
    assert.equal(table.byMac('lan', 'bb')?.address, '10.0.0.100');
  });

  test('a declined address belongs to nobody', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', 'aa', 'offered'));
    table.apply(lease('10.0.0.100', null, 'declined'));
    assert.equal(table.byMac('lan', 'aa'), undefined);
  });

  test('releasing an old address leaves the MAC on its new one', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', 'aa'));
    table.apply(lease('10.0.0.101', 'aa'));
    table.apply(lease('10.0.0.100', 'aa', 'released', NOW));
    assert.equal(table.byMac('lan', 'aa')?.address, '10.0.0.101');
  });

  test('a released record remains the MAC’s, so it can have its address back', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', 'aa'));
    table.apply(lease('10.0.0.100', 'aa', 'released', NOW));
    assert.equal(table.byMac('lan', 'aa')?.state, 'released');
  });
});

describe('LeaseTable.load', () => {
  test('replaces the contents; for a repeated address the stronger record wins', () => {
    const table = new LeaseTable();
    table.apply(lease('10.0.0.150', 'zz'));
    table.load([
      lease('10.0.0.100', 'aa', 'bound'),
      lease('10.0.0.100', 'bb', 'released', NOW - 5),
      lease('10.0.0.101', 'cc', 'offered', NOW + 10),
      lease('10.0.0.101', 'cc', 'offered', NOW + 5),
    ]);
    assert.equal(table.size, 2);
    assert.equal(table.byAddress('10.0.0.150'), undefined);
    assert.equal(table.byAddress('10.0.0.100')?.mac, 'aa');
    assert.equal(table.byAddress('10.0.0.101')?.expiresAt, NOW + 10);
  });

  test('the MAC index prefers a bound lease over a later released one', () => {
    const table = new LeaseTable();
    table.load([lease('10.0.0.101', 'aa', 'bound'), lease('10.0.0.100', 'aa', 'released', NOW + 9e9)]);
    assert.equal(table.byMac('lan', 'aa')?.address, '10.0.0.101');
  });

  test('a valid bound lease loaded on restart is never handed out', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.103');
    const table = new LeaseTable();
    table.load([lease('10.0.0.100', 'aa'), lease('10.0.0.102', 'bb')]);
    const handed = [table.nextFree(subnet, NOW, never), table.nextFree(subnet, NOW, never)];
    assert.deepEqual(handed, ['10.0.0.101', '10.0.0.103']);
  });
});

describe('LeaseTable.nextFree', () => {
  test('scans on from its cursor, skips held addresses and wraps around once', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.104');
    const table = new LeaseTable();
    const take = (mac: string): string | undefined => {
      const address = table.nextFree(subnet, NOW, never);
      if (address !== undefined) table.apply(lease(address, mac, 'offered', NOW + 60_000));
      return address;
    };
    assert.deepEqual(['a', 'b', 'c'].map(take), ['10.0.0.100', '10.0.0.101', '10.0.0.102']);
    table.apply(lease('10.0.0.100', 'a', 'released', NOW));
    // The cursor goes on to the end before it comes back to the released address.
    assert.deepEqual(['d', 'e', 'f', 'g'].map(take), ['10.0.0.103', '10.0.0.104', '10.0.0.100', undefined]);
  });

  test('expired offers and leases are free again', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.101');
    const table = new LeaseTable();
    table.load([lease('10.0.0.100', 'a', 'offered', NOW + 1000), lease('10.0.0.101', 'b', 'bound', NOW + 2000)]);
    assert.equal(table.nextFree(subnet, NOW, never), undefined);
    assert.equal(table.nextFree(subnet, NOW + 1000, never), '10.0.0.100');
    assert.equal(table.nextFree(subnet, NOW + 2000, never), '10.0.0.101');
  });

  test('a declined address stays out until its quarantine ends', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.100');
    const table = new LeaseTable();
    table.apply(lease('10.0.0.100', null, 'declined', NOW + 600_000));
    assert.equal(table.nextFree(subnet, NOW + 599_999, never), undefined);
    assert.equal(table.nextFree(subnet, NOW + 600_000, never), '10.0.0.100');
  });

  test('excluded addresses (reservations, the server itself) are skipped', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.103');
    const table = new LeaseTable();
    const excluded = new Set(['10.0.0.100', '10.0.0.101']);
    assert.equal(table.nextFree(subnet, NOW, (address) => excluded.has(address)), '10.0.0.102');
  });

  test('several pools are one sequence, in address order', () => {
    const subnet = lanSubnet({
      pools: [
        { start: '10.0.0.200', end: '10.0.0.200' },
        { start: '10.0.0.10', end: '10.0.0.11' },
      ],
    });
    const table = new LeaseTable();
    const handed: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) {
      const address = table.nextFree(subnet, NOW, never);
      handed.push(address);
      if (address !== undefined) table.apply(lease(address, `m${i}`));
    }
    assert.deepEqual(handed, ['10.0.0.10', '10.0.0.11', '10.0.0.200', undefined]);
  });

  test('never the network or broadcast address, even when a pool spans the whole prefix', () => {
    const subnet = lanSubnet({ network: '10.0.0.0/30', pools: [{ start: '10.0.0.0', end: '10.0.0.3' }] });
    const table = new LeaseTable();
    const handed: Array<string | undefined> = [];
    for (let i = 0; i < 3; i++) {
      const address = table.nextFree(subnet, NOW, never);
      handed.push(address);
      if (address !== undefined) table.apply(lease(address, `m${i}`));
    }
    assert.deepEqual(handed, ['10.0.0.1', '10.0.0.2', undefined]);
  });

  test('a full pool answers at once until a lease is released or expires', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.101');
    const table = new LeaseTable();
    table.load([lease('10.0.0.100', 'a', 'bound', NOW + 3_600_000), lease('10.0.0.101', 'b', 'bound', NOW + 3_600_000)]);
    let calls = 0;
    const counting = (): boolean => {
      calls++;
      return false;
    };
    assert.equal(table.nextFree(subnet, NOW, counting), undefined);
    assert.equal(table.nextFree(subnet, NOW + 1, counting), undefined);
    table.apply(lease('10.0.0.101', 'b', 'released', NOW + 2));
    assert.equal(table.nextFree(subnet, NOW + 2, counting), '10.0.0.101');
    assert.equal(calls, 1, 'the full pool was not scanned again, the freed address was checked once');
  });

  test('a full pool of reservations is rescanned after a few seconds (reservations change outside the table)', () => {
    const subnet = smallPool('10.0.0.100', '10.0.0.100');
    const table = new LeaseTable();
    let reserved = true;
    assert.equal(table.nextFree(subnet, NOW, () => reserved), undefined);
    reserved = false;
    assert.equal(table.nextFree(subnet, NOW + 1000, () => reserved), undefined);
    assert.equal(table.nextFree(subnet, NOW + 5000, () => reserved), '10.0.0.100');
  });

  test('a /10 pool with 100,000 leases: fast, and never a held address', () => {
    const subnet = lanSubnet({ network: '10.64.0.0/10', pools: [{ start: '10.64.0.1', end: '10.127.255.254' }] });
    const first = parseDottedQuad('10.64.0.1');
    const records: LeaseRecord[] = [];
    for (let i = 0; i < 100_000; i++) records.push(lease(numberToDottedQuad(first + i), `m${i}`, 'bound', NOW + 3_600_000, 'lan'));
    const table = new LeaseTable();
    let started = performance.now();
    table.load(records);
    const loadMs = performance.now() - started;

    started = performance.now();
    const firstFree = table.nextFree(subnet, NOW, never);
    const firstMs = performance.now() - started;
    assert.equal(firstFree, numberToDottedQuad(first + 100_000));

    started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      const address = table.nextFree(subnet, NOW, never);
      assert.ok(address !== undefined);
      table.apply(lease(address, `n${i}`, 'offered', NOW + 60_000));
    }
    const perAllocationUs = ((performance.now() - started) * 1000) / 10_000;
    console.log(
      `lease table /10 pool: load 100k in ${loadMs.toFixed(1)} ms, first free past them in ${firstMs.toFixed(1)} ms, ` +
        `then ${perAllocationUs.toFixed(2)} µs per allocation`,
    );
  });
});

describe('LeaseTable properties', () => {
  // A pool of 8 addresses, random applies and allocations at random times, against a plain model.
  const addresses = Array.from({ length: 8 }, (_, i) => `10.0.0.${100 + i}`);
  const subnet = smallPool(addresses[0]!, addresses.at(-1)!);
  const step = fc.oneof(
    fc.record({
      kind: fc.constant('apply' as const),
      address: fc.constantFrom(...addresses),
      mac: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null }),
      state: fc.constantFrom<LeaseState>('offered', 'bound', 'declined', 'released'),
      lifetime: fc.integer({ min: -1000, max: 10_000 }),
    }),
    fc.record({ kind: fc.constant('next' as const) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 6000 }) }),
  );

  test('nextFree returns only free addresses, and undefined only when none is free', () => {
    fc.assert(
      fc.property(fc.subarray(addresses, { maxLength: 3 }), fc.array(step, { maxLength: 60 }), (excludedList, steps) => {
        const excluded = new Set(excludedList);
        const table = new LeaseTable();
        const model = new Map<string, LeaseRecord>();
        let now = NOW;
        for (const s of steps) {
          if (s.kind === 'wait') now += s.ms;
          else if (s.kind === 'apply') {
            const record = lease(s.address, s.state === 'declined' ? null : s.mac, s.state, now + s.lifetime);
            table.apply(record);
            model.set(s.address, record);
          } else {
            const free = addresses.filter((a) => !excluded.has(a) && !(model.has(a) && leaseHolds(model.get(a)!, now)));
            const got = table.nextFree(subnet, now, (a) => excluded.has(a));
            if (got === undefined) assert.deepEqual(free, [], `none found at +${now - NOW} ms`);
            else assert.ok(free.includes(got), `${got} is not free at +${now - NOW} ms`);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});
