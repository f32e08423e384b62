import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { expectStatus, startTestApi, type TestApi } from '../../api/api-fixture.js';
import { testBackends } from '../../store/database-fixture.js';
import { saveLeases } from './lease-store.js';
import type { LeaseState } from './leases.js';

for (const backend of testBackends) {
  describe(`GET /api/dhcp/leases/ (${backend})`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(backend);
      const now = api.services.clock.now().getTime();
      const updated = new Date(now).toISOString();
      await api.services.store.transaction(async (tx) => {
        await saveLeases(tx.db as unknown as Kysely<unknown>, [
          { address: '10.0.0.20', mac: '52:54:00:12:34:56', subnet: 'lab', state: 'bound', expiresAt: now + 3_600_000, hostname: 'node-20', clientId: null },
          { address: '10.0.0.21', mac: '52:54:00:12:34:57', subnet: 'lab', state: 'released', expiresAt: now, hostname: null, clientId: null },
          { address: '10.0.0.22', mac: null, subnet: 'lab', state: 'declined', expiresAt: now + 600_000, hostname: null, clientId: null },
        ].map((lease) => ({ lease: { ...lease, state: lease.state as LeaseState }, updated })));
      });
    });
    after(async () => api.close());

    test('lists leases by address, and filters by MAC in any notation and by state', async () => {
      const all = expectStatus(await api.call('GET', '/api/dhcp/leases/'), 200);
      assert.equal(all.count, 3);
      assert.deepEqual(all.results.map((lease: { address: string }) => lease.address), ['10.0.0.20', '10.0.0.21', '10.0.0.22']);
      const mine = expectStatus(await api.call('GET', '/api/dhcp/leases/?mac=5254.0012.3456'), 200);
      assert.equal(mine.count, 1);
      assert.equal(mine.results[0].active, true);
      assert.equal(mine.results[0].hostname, 'node-20');
      const released = expectStatus(await api.call('GET', '/api/dhcp/leases/?state=released'), 200);
      assert.deepEqual(released.results.map((lease: { active: boolean; address: string }) => [lease.address, lease.active]), [['10.0.0.21', false]]);
    });

    test('a bad MAC or state is a 400 naming the parameter', async () => {
      const mac = expectStatus(await api.call('GET', '/api/dhcp/leases/?mac=zz'), 400);
      assert.equal(mac.field, 'query.mac');
      const state = expectStatus(await api.call('GET', '/api/dhcp/leases/?state=lost'), 400);
      assert.equal(state.field, 'query.state');
    });
  });
}
