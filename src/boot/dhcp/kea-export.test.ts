import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { Reservation } from './engine.js';
import { keaDhcp4Fragment, type KeaDhcp4Fragment } from './kea-export.js';
import type { SubnetConfig } from './subnet.js';

const KEA_DHCP4 = '/usr/sbin/kea-dhcp4';

function subnet(overrides: Partial<SubnetConfig> & Pick<SubnetConfig, 'name' | 'network'>): SubnetConfig {
  return {
    pools: [],
    router: null,
    dnsServers: [],
    domainName: null,
    leaseSeconds: 3600,
    mode: 'serve',
    nextServer: null,
    bootServer: null,
    ...overrides,
  };
}

const lab = subnet({
  name: 'lab',
  network: '10.0.0.0/24',
  pools: [{ start: '10.0.0.100', end: '10.0.0.150' }, { start: '10.0.0.200', end: '10.0.0.210' }],
  router: '10.0.0.1',
  dnsServers: ['10.0.0.2', '10.0.0.3'],
  domainName: 'lab.example',
  leaseSeconds: 7200,
});
const rack = subnet({ name: 'rack', network: '10.0.1.0/24', pools: [{ start: '10.0.1.10', end: '10.0.1.20' }] });
const proxy = subnet({ name: 'proxy', network: '10.0.2.0/24', mode: 'proxy' });

const reservations = new Map<string, Reservation>([
  ['02:00:00:00:00:02', { address: '10.0.1.5', hostname: null }],
  ['02:00:00:00:00:01', { address: '10.0.0.20', hostname: 'node-20' }],
  ['02:00:00:00:00:03', { address: '10.0.2.9', hostname: 'behind-proxy' }],
  ['02:00:00:00:00:04', { address: '192.168.9.9', hostname: 'elsewhere' }],
]);

/** Runs Kea's own config check on a full config holding the fragment; resolves to Kea's output on success. */
async function keaConfigTest(fragment: KeaDhcp4Fragment): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-kea-'));
  try {
    const config = {
      Dhcp4: {
        'interfaces-config': { interfaces: ['lo'] },
        'lease-database': { type: 'memfile', persist: false },
        ...fragment.Dhcp4,
      },
    };
    const file = join(dir, 'kea-dhcp4.conf');
    writeFileSync(file, JSON.stringify(config, null, 2));
    const { stdout, stderr } = await promisify(execFile)(KEA_DHCP4, ['-t', file], {
      timeout: 10_000,
      // Kea writes its lock and pid files here; keep them out of /run.
      env: { ...process.env, KEA_LOCKFILE_DIR: dir, KEA_PIDFILE_DIR: dir },
    });
    return stdout + stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('keaDhcp4Fragment', () => {
  test('builds subnet4 entries with pools, options, lifetime and reservations', () => {
    assert.deepEqual(keaDhcp4Fragment({ subnets: [lab, rack, proxy], reservations }), {
      Dhcp4: {
        subnet4: [
          {
            id: 1,
            subnet: '10.0.0.0/24',
            pools: [{ pool: '10.0.0.100 - 10.0.0.150' }, { pool: '10.0.0.200 - 10.0.0.210' }],
            'option-data': [
              { name: 'routers', data: '10.0.0.1' },
              { name: 'domain-name-servers', data: '10.0.0.2, 10.0.0.3' },
              { name: 'domain-name', data: 'lab.example' },
            ],
            'valid-lifetime': 7200,
            reservations: [{ 'hw-address': '02:00:00:00:00:01', 'ip-address': '10.0.0.20', hostname: 'node-20' }],
          },
          {
            id: 2,
            subnet: '10.0.1.0/24',
            pools: [{ pool: '10.0.1.10 - 10.0.1.20' }],
            'option-data': [],
            'valid-lifetime': 3600,
            reservations: [{ 'hw-address': '02:00:00:00:00:02', 'ip-address': '10.0.1.5' }],
          },
        ],
      },
    });
  });

  test('skips proxy subnets and reservations outside served subnets', () => {
    const fragment = keaDhcp4Fragment({ subnets: [proxy], reservations });
    assert.deepEqual(fragment, { Dhcp4: { subnet4: [] } });
  });

  test('every reservation lands in exactly one served subnet that contains it', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 254 })), {
          selector: ([mac]) => mac,
          maxLength: 40,
        }),
        (entries) => {
          const subnets = [lab, rack, proxy];
          const input = new Map<string, Reservation>(
            entries.map(([mac, third, last]) => [
              `02:00:00:00:00:${mac.toString(16).padStart(2, '0')}`,
              { address: `10.0.${third}.${last}`, hostname: null },
            ]),
          );
          const fragment = keaDhcp4Fragment({ subnets, reservations: input });
          const placed = fragment.Dhcp4.subnet4.flatMap((entry) =>
            entry.reservations.map((reservation) => ({ prefix: entry.subnet.split('.').slice(0, 3).join('.'), address: reservation['ip-address'] })),
          );
          for (const { prefix, address } of placed) assert.ok(address.startsWith(`${prefix}.`), `${address} in ${prefix}`);
          const expected = entries.filter(([, third]) => third === 0 || third === 1).length;
          assert.equal(placed.length, expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('Kea 2.2 accepts the exported config', { skip: existsSync(KEA_DHCP4) ? false : `${KEA_DHCP4} is not installed` }, async () => {
    await keaConfigTest(keaDhcp4Fragment({ subnets: [lab, rack, proxy], reservations }));
  });

  test('Kea rejects a broken fragment, so the check above means something', { skip: existsSync(KEA_DHCP4) ? false : `${KEA_DHCP4} is not installed` }, async () => {
    const fragment = keaDhcp4Fragment({ subnets: [lab], reservations });
    fragment.Dhcp4.subnet4[0]!.pools = [{ pool: '10.9.0.1 - 10.9.0.5' }];
    await assert.rejects(keaConfigTest(fragment));
  });
});
