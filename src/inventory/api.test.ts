import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { expectStatus as expect, refusalProblem, startTestApi, type TestApi } from '../api/api-fixture.js';
import { testBackends } from '../store/database-fixture.js';

// Response bodies are whatever JSON the server sent; the assertions check their shape.
type Json = Record<string, any>;

/** An error response that names `field`, with a detail starting with it. */
function expectError(res: LightMyRequestResponse, status: number, field: string, label = ''): void {
  assert.deepEqual(refusalProblem(label, res, status, field), []);
}

for (const backend of testBackends) {
  describe(`inventory API on ${backend}`, () => {
    let api: TestApi;
    /** Ids of the catalogue and devices made in `before`, by name or slug. */
    const ids: Record<string, number> = {};

    const post = async (path: string, body: unknown, token?: string) => expect(await api.call('POST', `/api/${path}/`, { body, token }), 201);
    const get = async (url: string, token?: string) => expect(await api.call('GET', url, { token }), 200);
    /** Device (or other) names a list query returns, in the order it returns them. */
    const names = async (url: string, token?: string) => ((await get(url, token)).results as Json[]).map((r) => r.name as string);
    const auditCount = async () => (await api.services.audit.list({ limit: 1 })).count;
    const countOf = async (path: string) => (await get(`/api/${path}/?limit=1`)).count as number;

    before(async () => {
      api = await startTestApi(backend);
      const tenants = await post('tenancy/tenants', [
        { name: 'Acme', slug: 'acme' },
        { name: 'Globex', slug: 'globex' },
      ]);
      for (const t of tenants) ids[t.slug] = t.id;
      ids.ams1 = (await post('dcim/sites', { name: 'AMS1', slug: 'ams1' })).id;
      ids.fra1 = (await post('dcim/sites', { name: 'FRA1', slug: 'fra1', tenant: ids.globex })).id;
      ids.dell = (await post('dcim/manufacturers', { name: 'Dell', slug: 'dell' })).id;
      ids.r650 = (await post('dcim/device-types', { manufacturer: ids.dell, model: 'R650', slug: 'r650' })).id;
      ids.server = (await post('dcim/device-roles', { name: 'Server', slug: 'server', color: '00ff00' })).id;
      ids.switch = (await post('dcim/device-roles', { name: 'Switch', slug: 'switch' })).id;
      ids.ubuntu = (await post('dcim/platforms', { name: 'Ubuntu', slug: 'ubuntu', manufacturer: ids.dell })).id;
      for (const [slug, color] of [['gpu', 'ff0000'], ['prod', '0000ff'], ['spare', '9e9e9e']] as const) {
        ids[slug] = (await post('extras/tags', { name: slug.toUpperCase(), slug, color })).id;
      }
      const devices = await post('dcim/devices', [
        { name: 'web-1', device_type: ids.r650, role: ids.server, site: ids.ams1, tenant: ids.acme, platform: ids.ubuntu, serial: 'SN-001', tags: ['prod', 'gpu'], custom_fields: { rack_unit: 7 } },
        { name: 'web-2', device_type: { slug: 'r650' }, role: { slug: 'server' }, site: { slug: 'ams1' }, tenant: { slug: 'acme' }, status: 'planned', serial: 'SN-002', tags: [{ slug: 'prod' }] },
        { name: 'db-1', device_type: ids.r650, role: ids.server, site: ids.fra1, tenant: ids.globex, serial: 'SN-003', tags: [ids.gpu], description: 'main database' },
        { name: 'sw-1', device_type: ids.r650, role: ids.switch, site: ids.fra1, status: { value: 'offline' }, serial: 'SN-004' },
      ]);
      for (const d of devices) ids[d.name] = d.id;
      const interfaces = await post('dcim/interfaces', [
        { device: ids['web-1'], name: 'eth0', mac_address: 'aa:bb:cc:00:00:01' },
        { device: ids['web-1'], name: 'eth1', mac_address: 'AA-BB-CC-00-00-02', type: '10gbase-x-sfpp' },
        { device: ids['db-1'], name: 'eth0', mac_address: 'aabb.cc00.0003' },
        { device: ids['sw-1'], name: 'mgmt0', mgmt_only: true },
      ]);
      ids['web-1:eth0'] = interfaces[0].id;
      ids['web-1:eth1'] = interfaces[1].id;
      ids['db-1:eth0'] = interfaces[2].id;
      ids['sw-1:mgmt0'] = interfaces[3].id;
    });
    after(async () => api.close());

    test('a device has NetBox\'s representation: absolute url, display, nested briefs, choices, tags, custom fields', async () => {
      const d = await get(`/api/dcim/devices/${ids['web-1']}/`);
      assert.match(d.url, new RegExp(`^https?://[^/]+/api/dcim/devices/${ids['web-1']}/$`));
      assert.equal(d.id, ids['web-1']);
      assert.equal(d.display, 'web-1');
      assert.deepEqual(d.status, { value: 'active', label: 'Active' });
      assert.equal(d.face, null);
      assert.equal(d.serial, 'SN-001');
      assert.equal(d.asset_tag, null);
      assert.equal(d.position, null);
      assert.deepEqual(Object.keys(d.site).sort(), ['description', 'display', 'id', 'name', 'slug', 'url']);
      assert.deepEqual({ ...d.site, url: undefined }, { id: ids.ams1, url: undefined, display: 'AMS1', name: 'AMS1', slug: 'ams1', description: '' });
      assert.match(d.site.url, new RegExp(`^https?://[^/]+/api/dcim/sites/${ids.ams1}/$`));
      assert.equal(d.device_type.model, 'R650');
      assert.equal(d.device_type.display, 'R650');
      assert.match(d.device_type.url, new RegExp(`/api/dcim/device-types/${ids.r650}/$`));
      assert.equal(d.device_type.manufacturer.id, ids.dell);
      assert.equal(d.device_type.manufacturer.slug, 'dell');
      assert.equal(d.device_type.manufacturer.display, 'Dell');
      assert.match(d.device_type.manufacturer.url, new RegExp(`^https?://[^/]+/api/dcim/manufacturers/${ids.dell}/$`));
      assert.equal(d.role.slug, 'server');
      assert.deepEqual(d.device_role, d.role);
      assert.equal(d.tenant.slug, 'acme');
      assert.equal(d.platform.slug, 'ubuntu');
      assert.equal(d.rack, null);
      assert.equal(d.location, null);
      assert.deepEqual(
        d.tags.map((t: Json) => [t.slug, t.name, t.color, t.display]),
        [['gpu', 'GPU', 'ff0000', 'GPU'], ['prod', 'PROD', '0000ff', 'PROD']],
      );
      assert.match(d.tags[0].url, new RegExp(`/api/extras/tags/${ids.gpu}/$`));
      assert.deepEqual(d.custom_fields, { rack_unit: 7 });
      assert.equal(d.primary_ip, null);
      assert.equal(d.primary_ip4, null);
      assert.equal(d.primary_ip6, null);
      assert.ok(!Number.isNaN(Date.parse(d.created)) && !Number.isNaN(Date.parse(d.last_updated)));

      const sw = await get(`/api/dcim/devices/${ids['sw-1']}/`);
      assert.deepEqual(sw.status, { value: 'offline', label: 'Offline' }, 'a choice given as {value} is accepted');
      assert.equal(sw.tenant, null);
      assert.deepEqual(sw.tags, []);
      assert.deepEqual(sw.custom_fields, {});

      const eth1 = await get(`/api/dcim/interfaces/${ids['web-1:eth1']}/`);
      assert.equal(eth1.mac_address, 'AA:BB:CC:00:00:02', 'MACs are stored in NetBox form');
      assert.deepEqual(eth1.type, { value: '10gbase-x-sfpp', label: 'SFP+ (10GE)' });
      assert.equal(eth1.enabled, true);
      assert.equal(eth1.mgmt_only, false);
      assert.equal(eth1.mtu, null);
      assert.deepEqual(Object.keys(eth1.device).sort(), ['description', 'display', 'id', 'name', 'url']);
      assert.equal(eth1.device.name, 'web-1');
      assert.equal(eth1.count_ipaddresses, 0);
    });

    test('lists page NetBox-style: count/next/previous, limit=0, brief, ordering', async () => {
      const first = await get('/api/dcim/devices/?limit=2');
      assert.equal(first.count, 4);
      assert.deepEqual(first.results.map((d: Json) => d.name), ['db-1', 'sw-1'], 'default order is by name');
      assert.equal(first.previous, null);
      assert.match(first.next, /^https?:\/\/[^/]+\/api\/dcim\/devices\/\?/);
      const next = new URL(first.next);
      assert.equal(next.searchParams.get('limit'), '2');
      assert.equal(next.searchParams.get('offset'), '2');
      const second = await get(`${next.pathname}${next.search}`);
      assert.deepEqual(second.results.map((d: Json) => d.name), ['web-1', 'web-2']);
      assert.equal(second.next, null);
      assert.ok(second.previous);
      assert.equal(new URL(second.previous).searchParams.get('offset'), null, 'previous of offset 2 is the first page');

      const filteredNext = new URL((await get('/api/dcim/devices/?site=fra1&limit=1')).next);
      assert.equal(filteredNext.searchParams.get('site'), 'fra1', 'next keeps the filters');

      const all = await get('/api/dcim/devices/?limit=0');
      assert.equal(all.results.length, 4);
      assert.equal(all.next, null);
      const capped = await get('/api/dcim/devices/?limit=5000');
      assert.equal(capped.results.length, 4);

      const brief = await get('/api/dcim/devices/?brief=true&limit=1');
      assert.deepEqual(Object.keys(brief.results[0]).sort(), ['description', 'display', 'id', 'name', 'url']);
      const briefTypes = await get('/api/dcim/device-types/?brief=1');
      assert.equal(briefTypes.results[0].manufacturer.slug, 'dell');

      assert.deepEqual(await names('/api/dcim/devices/?ordering=-name'), ['web-2', 'web-1', 'sw-1', 'db-1']);
      assert.deepEqual(await names('/api/dcim/devices/?ordering=serial'), ['web-1', 'web-2', 'db-1', 'sw-1']);
      expectError(await api.call('GET', '/api/dcim/devices/?ordering=colour'), 400, 'query.ordering');
      expectError(await api.call('GET', '/api/dcim/devices/?limit=ten'), 400, 'query.limit');
      expectError(await api.call('GET', '/api/dcim/devices/?offset=-1'), 400, 'query.offset');

      const excluded = await get(`/api/dcim/devices/?exclude=custom_fields&name=web-1`);
      assert.equal(excluded.results[0].custom_fields, undefined);
    });

    test('device filters: slugs, ids, tags, status, text, lookups, MAC in any notation, repeated values OR', async () => {
      const sorted = async (query: string) => (await names(`/api/dcim/devices/?${query}`)).sort();
      const cases: Array<[string, string[]]> = [
        ['site=ams1', ['web-1', 'web-2']],
        [`site_id=${ids.fra1}`, ['db-1', 'sw-1']],
        [`site_id=${ids.fra1}&site_id=${ids.ams1}`, ['db-1', 'sw-1', 'web-1', 'web-2']],
        ['site__n=ams1', ['db-1', 'sw-1']],
        ['role=switch', ['sw-1']],
        [`role_id=${ids.server}`, ['db-1', 'web-1', 'web-2']],
        ['tenant=acme', ['web-1', 'web-2']],
        ['tenant=acme&tenant=globex', ['db-1', 'web-1', 'web-2']],
        [`tenant_id=${ids.globex}`, ['db-1']],
        ['tenant_id=null', ['sw-1']],
        ['device_type=r650&platform=ubuntu', ['web-1']],
        ['tag=prod', ['web-1', 'web-2']],
        ['tag=prod&tag=gpu', ['web-1']],
        ['tag=spare', []],
        [`tag_id=${ids.gpu}`, ['db-1', 'web-1']],
        ['tag__n=gpu', ['sw-1', 'web-2']],
        ['tag__n=gpu&tag__n=prod', ['sw-1']],
        ['status=active', ['db-1', 'web-1']],
        ['status=active&status=planned', ['db-1', 'web-1', 'web-2']],
        ['status__n=active', ['sw-1', 'web-2']],
        ['q=SN-003', ['db-1']],
        ['q=web', ['web-1', 'web-2']],
        ['q=MAIN%20database', ['db-1']],
        ['serial=SN-002', ['web-2']],
        ['serial=SN-002&serial=SN-004', ['sw-1', 'web-2']],
        ['name=web-1', ['web-1']],
        ['name__ic=EB', ['web-1', 'web-2']],
        ['name__isw=DB', ['db-1']],
        ['name__iew=-1', ['db-1', 'sw-1', 'web-1']],
        ['name__nic=web', ['db-1', 'sw-1']],
        ['name__n=web-1', ['db-1', 'sw-1', 'web-2']],
        ['name__n=web-1&name__n=db-1', ['sw-1', 'web-2']],
        [`id__gt=${ids['web-2']}`, ['db-1', 'sw-1']],
        [`id__lte=${ids['web-2']}`, ['web-1', 'web-2']],
        [`id=${ids['db-1']}&id=${ids['sw-1']}`, ['db-1', 'sw-1']],
        ['mac_address=aa:bb:cc:00:00:01', ['web-1']],
        ['mac_address=AABB.CC00.0002', ['web-1']],
        ['mac_address=aabbcc000003&mac_address=aa-bb-cc-00-00-01', ['db-1', 'web-1']],
        ['mac_address=aa:bb:cc:00:00:99', []],
        ['has_primary_ip=false', ['db-1', 'sw-1', 'web-1', 'web-2']],
        ['has_primary_ip=true', []],
        ['description__empty=true', ['sw-1', 'web-1', 'web-2']],
      ];
      for (const [query, expected] of cases) assert.deepEqual(await sorted(query), expected, query);
    });

    test('interface filters: device_id, device, MAC in any notation, name lookups, booleans', async () => {
      const of = async (query: string) =>
        ((await get(`/api/dcim/interfaces/?${query}`)).results as Json[]).map((i) => `${i.device.name}:${i.name}`).sort();
      const cases: Array<[string, string[]]> = [
        [`device_id=${ids['web-1']}`, ['web-1:eth0', 'web-1:eth1']],
        [`device_id=${ids['web-1']}&device_id=${ids['db-1']}`, ['db-1:eth0', 'web-1:eth0', 'web-1:eth1']],
        ['mac_address=AA:BB:CC:00:00:03', ['db-1:eth0']],
        ['mac_address=aabb.cc00.0001', ['web-1:eth0']],
        ['mac_address=aabbcc000002', ['web-1:eth1']],
        ['mac_address=aa-bb-cc-00-00-01&mac_address=aa:bb:cc:00:00:02', ['web-1:eth0', 'web-1:eth1']],
        ['mac_address__n=aa:bb:cc:00:00:01', ['db-1:eth0', 'sw-1:mgmt0', 'web-1:eth1']],
        ['name=eth0', ['db-1:eth0', 'web-1:eth0']],
        ['name__isw=MG', ['sw-1:mgmt0']],
        ['mgmt_only=true', ['sw-1:mgmt0']],
        ['type=10gbase-x-sfpp', ['web-1:eth1']],
        ['q=AA:BB:CC:00:00:03', ['db-1:eth0']],
      ];
      for (const [query, expected] of cases) assert.deepEqual(await of(query), expected, query);
    });

    test('unknown filters and bad filter values are 400s naming the parameter', async () => {
      const cases: Array<[string, string]> = [
        ['/api/dcim/devices/?colour=red', 'query.colour'],
        ['/api/dcim/devices/?site_idd=1', 'query.site_idd'],
        ['/api/dcim/devices/?site_id=abc', 'query.site_id'],
        ['/api/dcim/devices/?status=bogus', 'query.status'],
        ['/api/dcim/devices/?status__n=bogus', 'query.status__n'],
        ['/api/dcim/devices/?id__gt=x', 'query.id__gt'],
        ['/api/dcim/devices/?mac_address=zz:zz', 'query.mac_address'],
        ['/api/dcim/devices/?has_primary_ip=maybe', 'query.has_primary_ip'],
        ['/api/dcim/interfaces/?device_id=web-1', 'query.device_id'],
        ['/api/dcim/interfaces/?mac_address=not-a-mac', 'query.mac_address'],
        ['/api/dcim/interfaces/?enabled=perhaps', 'query.enabled'],
        ['/api/dcim/sites/?tag_id=prod', 'query.tag_id'],
      ];
      const problems: string[] = [];
      for (const [url, field] of cases) problems.push(...refusalProblem(url, await api.call('GET', url), 400, field));
      assert.deepEqual(problems, []);
    });

    test('writes validate every field; a refused write changes nothing and audits nothing', async () => {
      const base = { device_type: ids.r650, role: ids.server, site: ids.ams1 };
      const cases: Array<[string, string, unknown, string]> = [
        ['unknown field', 'dcim/devices', { ...base, name: 'x', colour: 'red' }, 'body.colour'],
        ['wrong type', 'dcim/devices', { ...base, name: 5 }, 'body.name'],
        ['reference as a string', 'dcim/devices', { ...base, site: 'ams1' }, 'body.site'],
        ['reference that does not exist', 'dcim/devices', { ...base, site: 99_999 }, 'body.site'],
        ['missing required', 'dcim/devices', { name: 'x', device_type: ids.r650, site: ids.ams1 }, 'body.role'],
        ['bad choice', 'dcim/devices', { ...base, status: 'broken' }, 'body.status'],
        ['bad choice object', 'dcim/devices', { ...base, status: { value: 'broken' } }, 'body.status'],
        ['too long', 'dcim/devices', { ...base, name: 'x'.repeat(65) }, 'body.name'],
        ['bad date', 'dcim/devices', { ...base, install_date: '2024-13-45' }, 'body.install_date'],
        ['impossible date', 'dcim/devices', { ...base, install_date: '2023-02-30' }, 'body.install_date'],
        ['unknown tag', 'dcim/devices', { ...base, tags: ['nope'] }, 'body.tags.0'],
        ['tags not a list', 'dcim/devices', { ...base, tags: 'prod' }, 'body.tags'],
        ['face without position', 'dcim/devices', { ...base, face: 'front' }, 'body.face'],
        ['bad custom field name', 'dcim/devices', { ...base, custom_fields: { 'Bad Name': 1 } }, 'body.custom_fields.Bad Name'],
        ['duplicate asset tag', 'dcim/devices', { ...base, asset_tag: 'AT-1' }, 'body.asset_tag'],
        ['bad MAC', 'dcim/interfaces', { device: ids['web-1'], name: 'eth9', mac_address: 'aa:bb:cc' }, 'body.mac_address'],
        ['bad MAC mixed separators', 'dcim/interfaces', { device: ids['web-1'], name: 'eth9', mac_address: 'aa:bb-cc:00:00:09' }, 'body.mac_address'],
        ['duplicate interface name on one device', 'dcim/interfaces', { device: ids['web-1'], name: 'eth0' }, 'body.name'],
        ['mtu out of range', 'dcim/interfaces', { device: ids['web-1'], name: 'eth9', mtu: 0 }, 'body.mtu'],
        ['boolean as a string', 'dcim/interfaces', { device: ids['web-1'], name: 'eth9', enabled: 'yes' }, 'body.enabled'],
        ['bad slug', 'dcim/sites', { name: 'Bad', slug: 'not a slug!' }, 'body.slug'],
        ['missing slug', 'dcim/sites', { name: 'No slug' }, 'body.slug'],
        ['duplicate slug', 'dcim/sites', { name: 'Another', slug: 'ams1' }, 'body.slug'],
        ['duplicate name', 'dcim/sites', { name: 'AMS1', slug: 'ams1-b' }, 'body.name'],
        ['blank name', 'dcim/sites', { name: '  ', slug: 'blank' }, 'body.name'],
        ['bad colour', 'extras/tags', { name: 'Red', slug: 'red', color: 'red' }, 'body.color'],
        ['body not an object', 'dcim/sites', 'ams1', 'body'],
      ];
      // An asset tag in use makes the 'duplicate asset tag' case a clash.
      const holder = await post('dcim/devices', { ...base, name: 'asset-holder', asset_tag: 'AT-1' });
      const counts = async () => Promise.all(['dcim/devices', 'dcim/interfaces', 'dcim/sites', 'extras/tags'].map(countOf));
      const before = await counts();
      const audits = await auditCount();
      const problems: string[] = [];
      for (const [label, path, body, field] of cases) problems.push(...refusalProblem(label, await api.call('POST', `/api/${path}/`, { body }), 400, field));
      // Clean up whatever a wrongly accepted case created, so the other tests see the catalogue they expect.
      for (const created of await names('/api/dcim/devices/?limit=0&name__n=web-1&name__n=web-2&name__n=db-1&name__n=sw-1&name__n=asset-holder')) {
        const [device] = (await get(`/api/dcim/devices/?name=${created}`)).results;
        await api.call('DELETE', `/api/dcim/devices/${device.id}/`);
      }
      assert.deepEqual(problems, []);
      assert.deepEqual(await counts(), before);
      assert.equal(await auditCount(), audits);
      expect(await api.call('DELETE', `/api/dcim/devices/${holder.id}/`), 204);
    });

    test('nested references with an unknown look-up key or an ill-typed id are 400s naming the field', async () => {
      const base = { device_type: ids.r650, role: ids.server, site: ids.ams1, name: 'lookup-1' };
      const cases: Array<[string, string, unknown, string]> = [
        ['{colour} on a site', 'dcim/devices', { ...base, site: { colour: 'red' } }, 'body.site'],
        ['site {id: "abc"}', 'dcim/devices', { ...base, site: { id: 'abc' } }, 'body.site.id'],
        // Devices have no slug: looking one up by slug must be a client error, not a failed query.
        ['device {slug}', 'dcim/interfaces', { device: { slug: 'web-1' }, name: 'eth9' }, 'body.device'],
        ['tag {id: "abc"}', 'dcim/devices', { ...base, tags: [{ id: 'abc' }] }, 'body.tags.0'],
        ['tag 1.5', 'dcim/devices', { ...base, tags: [1.5] }, 'body.tags.0'],
      ];
      const problems: string[] = [];
      for (const [label, path, body, field] of cases) problems.push(...refusalProblem(label, await api.call('POST', `/api/${path}/`, { body }), 400, field));
      for (const device of (await get('/api/dcim/devices/?name=lookup-1')).results) await api.call('DELETE', `/api/dcim/devices/${device.id}/`);
      for (const eth of (await get('/api/dcim/interfaces/?name=eth9')).results) await api.call('DELETE', `/api/dcim/interfaces/${eth.id}/`);
      assert.deepEqual(problems, []);
      const byName = await post('dcim/interfaces', { device: { name: 'web-1' }, name: 'eth7' });
      assert.equal(byName.device.id, ids['web-1']);
      expect(await api.call('DELETE', `/api/dcim/interfaces/${byName.id}/`), 204);
    });

    test('a bulk create is all or none: item 1 bad -> 400 naming body.1.<field>, nothing created or audited', async () => {
      const devices = await countOf('dcim/devices');
      const audits = await auditCount();
      const eventsBefore = (await get('/api/events/?type=dcim.device.created&limit=1000')).results.length;
      const res = await api.call('POST', '/api/dcim/devices/', {
        body: [
          { name: 'bulk-1', device_type: ids.r650, role: ids.server, site: ids.ams1 },
          { name: 'bulk-2', device_type: ids.r650, role: ids.server, site: ids.ams1, status: 'exploded' },
          { name: 'bulk-3', device_type: ids.r650, role: ids.server, site: ids.ams1 },
        ],
      });
      expectError(res, 400, 'body.1.status');
      const missing = await api.call('POST', '/api/dcim/devices/', {
        body: [{ name: 'bulk-1', device_type: ids.r650, role: ids.server, site: ids.ams1 }, { name: 'bulk-2', role: ids.server, site: ids.ams1 }],
      });
      expectError(missing, 400, 'body.1.device_type');
      // The clash is with item 0 of the same request.
      const clash = await api.call('POST', '/api/dcim/sites/', { body: [{ name: 'Dup', slug: 'dup' }, { name: 'Dup 2', slug: 'dup' }] });
      expectError(clash, 400, 'body.1.slug');
      assert.equal(await countOf('dcim/devices'), devices);
      assert.deepEqual(await names('/api/dcim/devices/?name__isw=bulk'), []);
      assert.deepEqual(await names('/api/dcim/sites/?slug=dup'), []);
      assert.equal(await auditCount(), audits);
      assert.equal((await get('/api/events/?type=dcim.device.created&limit=1000')).results.length, eventsBefore);

      const made = await post('dcim/devices', [
        { name: 'bulk-1', device_type: ids.r650, role: ids.server, site: ids.ams1 },
        { name: 'bulk-2', device_type: ids.r650, role: ids.server, site: ids.ams1 },
      ]);
      assert.ok(Array.isArray(made) && made.length === 2);
      assert.equal(await auditCount(), audits + 2);
      expect(await api.call('DELETE', '/api/dcim/devices/', { body: made.map((d: Json) => ({ id: d.id })) }), 204);
    });

    test('bulk PATCH and bulk DELETE take lists with ids, all or none', async () => {
      const made = await post('dcim/devices', [
        { name: 'patch-1', device_type: ids.r650, role: ids.server, site: ids.ams1 },
        { name: 'patch-2', device_type: ids.r650, role: ids.server, site: ids.ams1 },
      ]);
      const [a, b] = made.map((d: Json) => d.id as number);
      const patched = expect(
        await api.call('PATCH', '/api/dcim/devices/', { body: [{ id: a, status: 'staged' }, { id: b, description: 'second', tags: ['spare'] }] }),
        200,
      );
      assert.deepEqual(patched.map((d: Json) => [d.name, d.status.value, d.description, d.tags.map((t: Json) => t.slug)]), [
        ['patch-1', 'staged', '', []],
        ['patch-2', 'active', 'second', ['spare']],
      ]);
      // One bad item: neither changes.
      const audits = await auditCount();
      const bad = await api.call('PATCH', '/api/dcim/devices/', { body: [{ id: a, description: 'changed' }, { id: b, status: 'nope' }] });
      expectError(bad, 400, 'body.1.status');
      expectError(await api.call('PATCH', '/api/dcim/devices/', { body: [{ description: 'no id' }] }), 400, 'body.0.id');
      expect(await api.call('PATCH', '/api/dcim/devices/', { body: [{ id: a, description: 'changed' }, { id: 99_999, description: 'x' }] }), 404);
      assert.equal((await get(`/api/dcim/devices/${a}/`)).description, '');
      assert.equal(await auditCount(), audits);

      expect(await api.call('DELETE', '/api/dcim/devices/', { body: [{ id: a }, { id: 99_999 }] }), 404);
      assert.equal((await get(`/api/dcim/devices/${a}/`)).name, 'patch-1', 'a failed bulk delete deletes nothing');
      expect(await api.call('DELETE', '/api/dcim/devices/', { body: [{ id: a }, { id: b }] }), 204);
      expect(await api.call('GET', `/api/dcim/devices/${a}/`), 404);
      expect(await api.call('GET', `/api/dcim/devices/${b}/`), 404);
      assert.equal(await auditCount(), audits + 2);
    });

    test('PATCH changes only what it names; PUT requires the required fields', async () => {
      const site = await post('dcim/sites', { name: 'PUT1', slug: 'put1', facility: 'Hall 3', description: 'old' });
      const patched = expect(await api.call('PATCH', `/api/dcim/sites/${site.id}/`, { body: { description: 'new', status: 'planned' } }), 200);
      assert.equal(patched.description, 'new');
      assert.equal(patched.facility, 'Hall 3');
      assert.deepEqual(patched.status, { value: 'planned', label: 'Planned' });
      assert.ok(patched.last_updated >= site.last_updated);
      const customised = expect(await api.call('PATCH', `/api/dcim/devices/${ids['web-2']}/`, { body: { custom_fields: { owner: 'ops' } } }), 200);
      assert.deepEqual(customised.custom_fields, { owner: 'ops' });
      const merged = expect(await api.call('PATCH', `/api/dcim/devices/${ids['web-2']}/`, { body: { custom_fields: { rack_unit: 3 } } }), 200);
      assert.deepEqual(merged.custom_fields, { owner: 'ops', rack_unit: 3 }, 'custom fields merge like NetBox');

      expectError(await api.call('PATCH', `/api/dcim/sites/${site.id}/`, { body: [{ name: 'x' }] }), 400, 'body');
      expect(await api.call('PATCH', '/api/dcim/sites/99999/', { body: { name: 'x' } }), 404);

      const put = expect(await api.call('PUT', `/api/dcim/sites/${site.id}/`, { body: { name: 'PUT1 renamed', slug: 'put1' } }), 200);
      assert.equal(put.name, 'PUT1 renamed');
      expectError(await api.call('PUT', `/api/dcim/sites/${site.id}/`, { body: { name: 'PUT1', slug: 'bad slug' } }), 400, 'body.slug');
      // As in NetBox (DRF), PUT is a full update: leaving out a required field is a 400, whatever is stored.
      const problems = [
        ...refusalProblem('PUT a site without slug', await api.call('PUT', `/api/dcim/sites/${site.id}/`, { body: { name: 'PUT1 renamed' } }), 400, 'body.slug'),
        ...refusalProblem(
          'PUT a device without device_type',
          await api.call('PUT', `/api/dcim/devices/${ids['web-2']}/`, { body: { name: 'web-2', role: ids.server, site: ids.ams1 } }),
          400,
          'body.device_type',
        ),
        ...refusalProblem('bulk PUT without slug', await api.call('PUT', '/api/dcim/sites/', { body: [{ id: site.id, name: 'PUT1 renamed' }] }), 400, 'body.0.slug'),
      ];
      expect(await api.call('DELETE', `/api/dcim/sites/${site.id}/`), 204);
      assert.deepEqual(problems, []);
    });

    test('deleting an object others refer to is refused (409) and deletes nothing', async () => {
      const devices = await countOf('dcim/devices');
      const audits = await auditCount();
      const site = await api.call('DELETE', `/api/dcim/sites/${ids.ams1}/`);
      assert.equal(site.statusCode, 409, site.body);
      assert.match(site.json().detail, /device/);
      expect(await api.call('DELETE', `/api/dcim/manufacturers/${ids.dell}/`), 409);
      expect(await api.call('DELETE', `/api/tenancy/tenants/${ids.acme}/`), 409);
      expect(await api.call('DELETE', `/api/extras/tags/${ids.prod}/`), 409);
      assert.equal((await get(`/api/dcim/sites/${ids.ams1}/`)).slug, 'ams1');
      assert.equal(await countOf('dcim/devices'), devices);
      assert.equal(await auditCount(), audits);
    });

    test('deleting a device deletes its interfaces and clears the IP addresses assigned to them', async () => {
      const device = await post('dcim/devices', { name: 'gone-1', device_type: ids.r650, role: ids.server, site: ids.ams1 });
      const [eth0, eth1] = await post('dcim/interfaces', [
        { device: device.id, name: 'eth0' },
        { device: device.id, name: 'eth1' },
      ]);
      const ip = await post('ipam/ip-addresses', { address: '10.77.0.5/24', assigned_object_type: 'dcim.interface', assigned_object_id: eth0.id });
      expect(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: ip.id } }), 200);
      assert.equal((await get(`/api/dcim/interfaces/${eth0.id}/`)).count_ipaddresses, 1);

      expect(await api.call('DELETE', `/api/dcim/devices/${device.id}/`), 204);
      expect(await api.call('GET', `/api/dcim/devices/${device.id}/`), 404);
      expect(await api.call('GET', `/api/dcim/interfaces/${eth0.id}/`), 404);
      expect(await api.call('GET', `/api/dcim/interfaces/${eth1.id}/`), 404);
      const cleared = await get(`/api/ipam/ip-addresses/${ip.id}/`);
      assert.equal(cleared.address, '10.77.0.5/24');
      assert.equal(cleared.assigned_object_type, null);
      assert.equal(cleared.assigned_object_id, null);
      assert.equal(cleared.assigned_object, null);
      const interfaceAudit = await get(`/api/audit/?object_type=dcim.interface&object_id=${eth0.id}`);
      assert.deepEqual(interfaceAudit.results.map((e: Json) => e.action), ['delete', 'create']);
      const ipAudit = await get(`/api/audit/?object_type=ipam.ipaddress&object_id=${ip.id}`);
      assert.equal(ipAudit.results[0].action, 'update', 'clearing the assignment is audited');
      expect(await api.call('DELETE', `/api/ipam/ip-addresses/${ip.id}/`), 204);
    });

    test('every write adds audit entries with before and after, and events', async () => {
      const created = await post('dcim/devices', { name: 'audited-1', device_type: ids.r650, role: ids.server, site: ids.ams1 });
      expect(await api.call('PATCH', `/api/dcim/devices/${created.id}/`, { body: { serial: 'SN-AUD' } }), 200);
      expect(await api.call('DELETE', `/api/dcim/devices/${created.id}/`), 204);
      const audit = await get(`/api/audit/?object_type=dcim.device&object_id=${created.id}`);
      assert.deepEqual(audit.results.map((e: Json) => e.action), ['delete', 'update', 'create']);
      const [deleted, updated, made] = audit.results as Json[];
      assert.equal(made!.before, null);
      assert.equal(made!.after.name, 'audited-1');
      assert.equal(updated!.before.serial, '');
      assert.equal(updated!.after.serial, 'SN-AUD');
      assert.equal(deleted!.before.serial, 'SN-AUD');
      assert.equal(deleted!.after, null);
      assert.match(made!.actor, /token/);
      const byType = await get('/api/audit/?object_type=dcim.device&limit=1000');
      assert.ok(byType.results.every((e: Json) => e.object_type === 'dcim.device'));
      assert.ok(byType.count >= 3);
      const events = await get(`/api/events/?subject=dcim.device:${created.id}`);
      assert.deepEqual(events.results.map((e: Json) => e.type).sort(), ['dcim.device.created', 'dcim.device.deleted', 'dcim.device.updated']);
      assert.equal(events.results.find((e: Json) => e.type === 'dcim.device.created').data.display, 'audited-1');
      assert.equal((await get('/api/audit/verify/')).ok, true);
    });

    test('parallel creates of one slug or one (site, tenant, name): exactly one succeeds, the others are 400s naming the field', async () => {
      const device = { name: 'race-1', tenant: ids.globex, device_type: ids.r650, role: ids.server, site: ids.fra1 };
      const [sites, devices] = await Promise.all([
        Promise.all(Array.from({ length: 8 }, (_, i) => api.call('POST', '/api/dcim/sites/', { body: { name: `Race ${i}`, slug: 'race' } }))),
        Promise.all(Array.from({ length: 8 }, () => api.call('POST', '/api/dcim/devices/', { body: device }))),
      ]);
      const problems: string[] = [];
      for (const [label, responses, field, url] of [
        ['site slug', sites, 'body.slug', '/api/dcim/sites/?slug=race'],
        ['device site+tenant+name', devices, 'body.name', '/api/dcim/devices/?name=race-1'],
      ] as const) {
        const statuses = responses.map((r) => r.statusCode).sort();
        if (JSON.stringify(statuses) !== JSON.stringify([201, ...Array(7).fill(400)])) problems.push(`${label}: 8 parallel creates got ${statuses.join(',')}`);
        for (const r of responses.filter((r) => r.statusCode !== 201)) problems.push(...refusalProblem(label, r, 400, field));
        const stored = (await get(`${url}&limit=0`)).results as Json[];
        if (stored.length !== 1) problems.push(`${label}: ${stored.length} objects stored`);
        for (const object of stored) await api.call('DELETE', `${url.split('?')[0]}${object.id}/`);
      }
      assert.deepEqual([...new Set(problems)], []);
    });

    test('a tenant-restricted token sees and changes only its tenant\'s devices', async () => {
      const acme = await api.tokenWith('write', { tenant: 'acme' });
      const listed = await get('/api/dcim/devices/?limit=0', acme);
      assert.ok(listed.results.length >= 2);
      assert.ok(listed.results.every((d: Json) => d.tenant?.slug === 'acme'), JSON.stringify(listed.results.map((d: Json) => d.name)));
      assert.equal(listed.count, listed.results.length);
      const seen = listed.results.map((d: Json) => d.name);
      assert.ok(seen.includes('web-1') && seen.includes('web-2') && !seen.includes('db-1') && !seen.includes('sw-1'));
      assert.deepEqual(await names('/api/dcim/devices/?tenant=globex', acme), []);
      const interfaces = await get('/api/dcim/interfaces/?limit=0', acme);
      assert.deepEqual([...new Set(interfaces.results.map((i: Json) => i.device.name))], ['web-1'], 'interfaces through their device');

      expect(await api.call('GET', `/api/dcim/devices/${ids['db-1']}/`, { token: acme }), 404);
      expect(await api.call('GET', `/api/dcim/interfaces/${ids['db-1:eth0']}/`, { token: acme }), 404);
      expect(await api.call('PATCH', `/api/dcim/devices/${ids['db-1']}/`, { token: acme, body: { description: 'mine now' } }), 404);
      expect(await api.call('DELETE', `/api/dcim/devices/${ids['db-1']}/`, { token: acme }), 404);
      assert.equal((await get(`/api/dcim/devices/${ids['db-1']}/`)).description, 'main database');

      const base = { device_type: ids.r650, role: ids.server, site: ids.ams1 };
      const devices = await countOf('dcim/devices');
      expect(await api.call('POST', '/api/dcim/devices/', { token: acme, body: { ...base, name: 'theirs', tenant: ids.globex } }), 403);
      expect(await api.call('POST', '/api/dcim/devices/', { token: acme, body: { ...base, name: 'theirs', tenant: { slug: 'globex' } } }), 403);
      expect(await api.call('PATCH', `/api/dcim/devices/${ids['web-2']}/`, { token: acme, body: { tenant: ids.globex } }), 403);
      expect(await api.call('PATCH', `/api/dcim/devices/${ids['web-2']}/`, { token: acme, body: { tenant: null } }), 403);
      expectError(await api.call('POST', '/api/dcim/devices/', { token: acme, body: { ...base, name: 'on-fra1', site: ids.fra1 } }), 400, 'body.site', 'a site of another tenant');
      expectError(await api.call('POST', '/api/dcim/interfaces/', { token: acme, body: { device: ids['db-1'], name: 'eth5' } }), 400, 'body.device');
      assert.equal(await countOf('dcim/devices'), devices);

      const mine = await post('dcim/devices', { ...base, name: 'acme-new' }, acme);
      assert.equal(mine.tenant.slug, 'acme', 'a device created without a tenant lands in the token\'s tenant');
      const ownInterface = await post('dcim/interfaces', { device: mine.id, name: 'eth0' }, acme);
      assert.equal(ownInterface.device.id, mine.id);

      expect(await api.call('POST', '/api/dcim/manufacturers/', { token: acme, body: { name: 'HPE', slug: 'hpe' } }), 403);
      expect(await api.call('PATCH', `/api/dcim/manufacturers/${ids.dell}/`, { token: acme, body: { description: 'x' } }), 403);
      const manufacturers = await get('/api/dcim/manufacturers/', acme);
      assert.deepEqual(manufacturers.results.map((m: Json) => m.slug), ['dell']);
      expect(await api.call('GET', '/api/tokens/', { token: acme }), 403);

      expect(await api.call('DELETE', `/api/dcim/devices/${mine.id}/`, { token: acme }), 204);
    });

    test('a tenant-restricted token cannot attach objects to devices outside its tenant', async () => {
      const acme = await api.tokenWith('write', { tenant: 'acme' });
      const interfaces = await countOf('dcim/interfaces');
      const addresses = await countOf('ipam/ip-addresses');
      const problems = [
        // sw-1 belongs to no tenant: an interface on it is not acme's (and acme could not even read it back).
        ...refusalProblem('interface on an untenanted device', await api.call('POST', '/api/dcim/interfaces/', { token: acme, body: { device: ids['sw-1'], name: 'eth5' } }), 400, 'body.device'),
        ...refusalProblem(
          'IP assigned to another tenant\'s interface',
          await api.call('POST', '/api/ipam/ip-addresses/', { token: acme, body: { address: '10.66.0.1/24', assigned_object_type: 'dcim.interface', assigned_object_id: ids['db-1:eth0'] } }),
          400,
          'body.assigned_object_id',
        ),
      ];
      for (const eth of (await get(`/api/dcim/interfaces/?device_id=${ids['sw-1']}&name=eth5`)).results) await api.call('DELETE', `/api/dcim/interfaces/${eth.id}/`);
      for (const ip of (await get('/api/ipam/ip-addresses/?address=10.66.0.1')).results) await api.call('DELETE', `/api/ipam/ip-addresses/${ip.id}/`);
      assert.deepEqual(problems, []);
      assert.equal(await countOf('dcim/interfaces'), interfaces);
      assert.equal(await countOf('ipam/ip-addresses'), addresses);
    });

    test('a primary IP must be of its family and on one of the device\'s interfaces', async () => {
      const device = await post('dcim/devices', { name: 'pip-1', device_type: ids.r650, role: ids.server, site: ids.ams1 });
      const eth0 = await post('dcim/interfaces', { device: device.id, name: 'eth0', mac_address: '52:54:00:00:00:01' });
      const loose = await post('ipam/ip-addresses', { address: '10.9.0.5/24' });
      const elsewhere = await post('ipam/ip-addresses', { address: '10.9.0.6/24', assigned_object_type: 'dcim.interface', assigned_object_id: ids['db-1:eth0'] });
      const mine = await post('ipam/ip-addresses', { address: '10.9.0.7/24', assigned_object_type: 'dcim.interface', assigned_object_id: eth0.id });
      const mine6 = await post('ipam/ip-addresses', { address: '2001:db8::7/64', assigned_object_type: 'dcim.interface', assigned_object_id: eth0.id });

      const audits = await auditCount();
      expectError(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: loose.id } }), 400, 'body.primary_ip4', 'unassigned');
      expectError(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: elsewhere.id } }), 400, 'body.primary_ip4', 'another device');
      expectError(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: mine6.id } }), 400, 'body.primary_ip4', 'IPv6 as primary_ip4');
      expectError(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip6: mine.id } }), 400, 'body.primary_ip6', 'IPv4 as primary_ip6');
      expectError(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: 99_999 } }), 400, 'body.primary_ip4', 'no such IP');
      expectError(
        await api.call('POST', '/api/dcim/devices/', { body: { name: 'pip-2', device_type: ids.r650, role: ids.server, site: ids.ams1, primary_ip4: mine.id } }),
        400,
        'body.primary_ip4',
        'a new device has no interfaces yet',
      );
      assert.equal(await auditCount(), audits);

      const with4 = expect(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip4: mine.id } }), 200);
      assert.equal(with4.primary_ip4.id, mine.id);
      assert.equal(with4.primary_ip4.address, '10.9.0.7/24');
      assert.match(with4.primary_ip4.url, new RegExp(`/api/ipam/ip-addresses/${mine.id}/$`));
      assert.equal(with4.primary_ip.address, '10.9.0.7/24');
      assert.deepEqual(await names('/api/dcim/devices/?has_primary_ip=true'), ['pip-1']);
      assert.ok(!(await names('/api/dcim/devices/?has_primary_ip=false&limit=0')).includes('pip-1'));
      assert.deepEqual(await names('/api/dcim/devices/?mac_address=525400000001'), ['pip-1']);
      const with6 = expect(await api.call('PATCH', `/api/dcim/devices/${device.id}/`, { body: { primary_ip6: mine6.id } }), 200);
      assert.equal(with6.primary_ip.address, '2001:db8::7/64', 'NetBox prefers the IPv6 primary by default');

      // Deleting the primary IP clears the reference (audited), as NetBox's SET_NULL does.
      expect(await api.call('DELETE', `/api/ipam/ip-addresses/${mine6.id}/`), 204);
      const after = await get(`/api/dcim/devices/${device.id}/`);
      assert.equal(after.primary_ip6, null);
      assert.equal(after.primary_ip.address, '10.9.0.7/24');
      expect(await api.call('DELETE', `/api/dcim/devices/${device.id}/`), 204);
      for (const ip of [loose, elsewhere, mine]) expect(await api.call('DELETE', `/api/ipam/ip-addresses/${ip.id}/`), 204);
    });
  });
}
