import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { expectStatus as expect, refusalProblem, startTestApi, type TestApi } from '../api/api-fixture.js';
import { testBackends } from '../store/database-fixture.js';

// Response bodies are whatever JSON the server sent; the assertions check their shape.
type Json = Record<string, any>;

for (const backend of testBackends) {
  describe(`IPAM API on ${backend}`, () => {
    let api: TestApi;
    const ids: Record<string, number> = {};

    const post = async (path: string, body: unknown, token?: string) => expect(await api.call('POST', `/api/${path}/`, { body, token }), 201);
    const get = async (url: string, token?: string) => expect(await api.call('GET', url, { token }), 200);
    const prefix = async (text: string, extra: Json = {}) => (await post('ipam/prefixes', { prefix: text, ...extra })) as Json;
    /** The `prefix` (or `address`) texts of a list query, in the order returned. */
    const listed = async (url: string, key = 'prefix') => ((await get(url)).results as Json[]).map((r) => r[key] as string);
    const available = async (path: string, query = '') => ((await get(`/api/ipam/${path}/available-ips/${query}`)) as Json[]).map((r) => r.address as string);
    const countOf = async (url: string) => (await get(url)).count as number;

    before(async () => {
      api = await startTestApi(backend);
      for (const t of await post('tenancy/tenants', [{ name: 'Acme', slug: 'acme' }, { name: 'Globex', slug: 'globex' }])) ids[t.slug] = t.id;
      const site = await post('dcim/sites', { name: 'AMS1', slug: 'ams1' });
      const manufacturer = await post('dcim/manufacturers', { name: 'Dell', slug: 'dell' });
      const type = await post('dcim/device-types', { manufacturer: manufacturer.id, model: 'R650', slug: 'r650' });
      const role = await post('dcim/device-roles', { name: 'Server', slug: 'server' });
      const device = await post('dcim/devices', { name: 'node-1', device_type: type.id, role: role.id, site: site.id, tenant: ids.acme });
      ids['node-1'] = device.id;
      ids['node-1:eth0'] = (await post('dcim/interfaces', { device: device.id, name: 'eth0', mac_address: '52:54:00:12:34:56' })).id;
    });
    after(async () => api.close());

    test('prefixes are stored in canonical form; host bits set, bad text and duplicates are 400s naming body.prefix', async () => {
      const v4 = await prefix('10.0.0.0/24');
      assert.equal(v4.prefix, '10.0.0.0/24');
      assert.equal(v4.display, '10.0.0.0/24');
      assert.deepEqual(v4.family, { value: 4, label: 'IPv4' });
      assert.deepEqual(v4.status, { value: 'active', label: 'Active' });
      assert.equal(v4.is_pool, false);
      assert.match(v4.url, new RegExp(`^https?://[^/]+/api/ipam/prefixes/${v4.id}/$`));
      const v6 = await prefix('2001:DB8:0:0:0::/64');
      assert.equal(v6.prefix, '2001:db8::/64');
      assert.deepEqual(v6.family, { value: 6, label: 'IPv6' });

      const count = await countOf('/api/ipam/prefixes/');
      const cases: Array<[string, unknown]> = [
        ['host bits set', { prefix: '10.0.1.5/24' }],
        ['IPv6 host bits set', { prefix: '2001:db8::1/64' }],
        ['too long', { prefix: '10.0.0.0/33' }],
        ['no length', { prefix: '10.0.2.0' }],
        ['not an address', { prefix: 'banana/24' }],
        ['duplicate', { prefix: '10.0.0.0/24' }],
        ['duplicate in another spelling', { prefix: '2001:0db8:0000::/64' }],
        ['missing', { status: 'active' }],
        ['not a string', { prefix: 10 }],
      ];
      const problems: string[] = [];
      for (const [label, body] of cases) problems.push(...refusalProblem(label, await api.call('POST', '/api/ipam/prefixes/', { body }), 400, 'body.prefix'));
      problems.push(...refusalProblem('PATCH to host bits', await api.call('PATCH', `/api/ipam/prefixes/${v4.id}/`, { body: { prefix: '10.0.0.1/24' } }), 400, 'body.prefix'));
      problems.push(...refusalProblem('bad status', await api.call('POST', '/api/ipam/prefixes/', { body: { prefix: '10.0.9.0/24', status: 'full' } }), 400, 'body.status'));
      assert.deepEqual(problems, []);
      const refused = await api.call('POST', '/api/ipam/prefixes/', { body: { prefix: '10.0.1.5/24' } });
      assert.match(refused.json().detail, /10\.0\.1\.0\/24/, 'the message names the network meant');
      assert.equal(await countOf('/api/ipam/prefixes/'), count);
      assert.equal((await get(`/api/ipam/prefixes/${v4.id}/`)).prefix, '10.0.0.0/24');
    });

    test('prefix filters within, within_include, contains, family, mask_length; IP filters parent, address, family', async () => {
      for (const text of ['172.16.0.0/12', '172.16.0.0/16', '172.16.5.0/24', '172.17.0.0/16', '2001:db8:f::/48', '2001:db8:f:1::/64']) await prefix(text);
      const cases: Array<[string, string[]]> = [
        ['within=172.16.0.0/12', ['172.16.0.0/16', '172.16.5.0/24', '172.17.0.0/16']],
        ['within_include=172.16.0.0/12', ['172.16.0.0/12', '172.16.0.0/16', '172.16.5.0/24', '172.17.0.0/16']],
        ['within_include=172.16.0.0/16', ['172.16.0.0/16', '172.16.5.0/24']],
        ['contains=172.16.5.9', ['172.16.0.0/12', '172.16.0.0/16', '172.16.5.0/24']],
        ['contains=172.16.5.0/25', ['172.16.0.0/12', '172.16.0.0/16', '172.16.5.0/24']],
        ['contains=172.17.200.1', ['172.16.0.0/12', '172.17.0.0/16']],
        ['within=172.16.0.0/12&mask_length=16', ['172.16.0.0/16', '172.17.0.0/16']],
        ['within=172.16.0.0/12&mask_length__gte=24', ['172.16.5.0/24']],
        ['within_include=172.16.0.0/12&mask_length__lte=12', ['172.16.0.0/12']],
        ['within=172.16.0.0/12&within=2001:db8:f::/48', ['172.16.0.0/16', '172.16.5.0/24', '172.17.0.0/16', '2001:db8:f:1::/64']],
        ['family=6&within_include=2001:db8:e::/47', ['2001:db8:f::/48', '2001:db8:f:1::/64']],
        ['contains=2001:db8:f:1::abcd', ['2001:db8:f::/48', '2001:db8:f:1::/64']],
        ['family=4&contains=2001:db8:f:1::abcd', []],
        ['q=172.16.5', ['172.16.5.0/24']],
      ];
      const problems: string[] = [];
      for (const [query, expected] of cases) {
        const got = await listed(`/api/ipam/prefixes/?${query}`);
        if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`${query}: expected ${expected.join(' ')}, got ${got.join(' ')}`);
      }

      await post('ipam/ip-addresses', [
        { address: '172.16.5.10/24' },
        { address: '172.16.5.11/24' },
        { address: '172.17.0.1/16' },
        { address: '2001:db8:f:1::5/64' },
      ]);
      const addressCases: Array<[string, string[]]> = [
        ['parent=172.16.5.0/24', ['172.16.5.10/24', '172.16.5.11/24']],
        ['parent=172.16.0.0/12', ['172.16.5.10/24', '172.16.5.11/24', '172.17.0.1/16']],
        ['parent=172.16.0.0/12&mask_length=16', ['172.17.0.1/16']],
        ['parent=172.16.5.0/24&parent=2001:db8:f::/48', ['172.16.5.10/24', '172.16.5.11/24', '2001:db8:f:1::5/64']],
        ['family=6&parent=2001:db8::/32', ['2001:db8:f:1::5/64']],
        ['address=172.16.5.11', ['172.16.5.11/24']],
        ['address=172.16.5.11/24', ['172.16.5.11/24']],
        ['q=172.16.5.1', ['172.16.5.10/24', '172.16.5.11/24']],
      ];
      for (const [query, expected] of addressCases) {
        const got = await listed(`/api/ipam/ip-addresses/?${query}`, 'address');
        if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`${query}: expected ${expected.join(' ')}, got ${got.join(' ')}`);
      }

      const refusals: Array<[string, string]> = [
        ['/api/ipam/prefixes/?within=172.16.0.1/12', 'query.within'],
        ['/api/ipam/prefixes/?within_include=nope', 'query.within_include'],
        ['/api/ipam/prefixes/?contains=300.1.1.1', 'query.contains'],
        ['/api/ipam/prefixes/?family=5', 'query.family'],
        ['/api/ipam/prefixes/?mask_length=200', 'query.mask_length'],
        ['/api/ipam/prefixes/?parent=10.0.0.0/8', 'query.parent'],
        ['/api/ipam/ip-addresses/?parent=172.16.5.1/24', 'query.parent'],
        ['/api/ipam/ip-addresses/?address=172.16.5', 'query.address'],
        ['/api/ipam/ip-addresses/?within=10.0.0.0/8', 'query.within'],
      ];
      for (const [url, field] of refusals) problems.push(...refusalProblem(url, await api.call('GET', url), 400, field));
      assert.deepEqual(problems, []);
    });

    test('utilization: used addresses of a pool, child prefixes of a container', async () => {
      const pool = await prefix('10.20.1.0/29', { is_pool: true });
      assert.equal(pool.utilization, 0);
      await post('ipam/ip-addresses', [{ address: '10.20.1.0/29' }, { address: '10.20.1.7/29' }]);
      assert.equal((await get(`/api/ipam/prefixes/${pool.id}/`)).utilization, 25);

      const container = await prefix('10.21.0.0/22', { status: 'container' });
      for (const text of ['10.21.0.0/24', '10.21.0.0/25', '10.21.1.0/24']) await prefix(text);
      assert.equal((await get(`/api/ipam/prefixes/${container.id}/`)).utilization, 50, 'nested children count once');

      const v6 = await prefix('2001:db8:20::/126');
      await post('ipam/ip-addresses', { address: '2001:db8:20::1/126' });
      assert.equal((await get(`/api/ipam/prefixes/${v6.id}/`)).utilization, 25);
    });

    test('utilization follows NetBox: an IPv4 prefix\'s size leaves out network and broadcast; mark_utilized is 100', async () => {
      const plain = await prefix('10.20.0.0/29');
      await post('ipam/ip-addresses', [{ address: '10.20.0.1/29' }, { address: '10.20.0.2/29' }, { address: '10.20.0.3/29' }]);
      const marked = await prefix('10.20.2.0/29', { mark_utilized: true });
      const problems: string[] = [];
      // NetBox Prefix.get_utilization: 3 used of the 6 usable addresses of a /29.
      const plainNow = (await get(`/api/ipam/prefixes/${plain.id}/`)).utilization;
      if (plainNow !== 50) problems.push(`10.20.0.0/29 with 3 addresses: expected 50, got ${plainNow}`);
      if (marked.utilization !== 100) problems.push(`mark_utilized: expected 100, got ${marked.utilization}`);
      assert.deepEqual(problems, []);
    });

    test('available-ips lists free addresses: IPv4 network and broadcast left out except /31, /32 and pools; IPv6 leaves out the anycast address', async () => {
      const net = await prefix('10.30.0.0/24');
      const first = (await get(`/api/ipam/prefixes/${net.id}/available-ips/`)) as Json[];
      assert.equal(first.length, 50, 'NetBox\'s default page');
      assert.deepEqual(first[0], { family: 4, address: '10.30.0.1/24', vrf: null });
      const all = await available(`prefixes/${net.id}`, '?limit=300');
      assert.equal(all.length, 254);
      assert.equal(all.at(-1), '10.30.0.254/24');
      assert.equal((await available(`prefixes/${net.id}`, '?limit=0')).length, 254, 'limit=0 is the largest page');
      assert.deepEqual(await available(`prefixes/${net.id}`, '?limit=2'), ['10.30.0.1/24', '10.30.0.2/24']);

      // Used addresses are left out whatever their mask.
      await post('ipam/ip-addresses', [{ address: '10.30.0.1/24' }, { address: '10.30.0.3/24' }, { address: '10.30.0.4/16' }]);
      assert.deepEqual(await available(`prefixes/${net.id}`, '?limit=3'), ['10.30.0.2/24', '10.30.0.5/24', '10.30.0.6/24']);

      const cases: Array<[string, Json, string[]]> = [
        ['10.30.1.0/31', {}, ['10.30.1.0/31', '10.30.1.1/31']],
        ['10.30.1.8/32', {}, ['10.30.1.8/32']],
        ['10.30.1.16/30', {}, ['10.30.1.17/30', '10.30.1.18/30']],
        ['10.30.2.0/30', { is_pool: true }, ['10.30.2.0/30', '10.30.2.1/30', '10.30.2.2/30', '10.30.2.3/30']],
        ['2001:db8:30:2::/126', {}, ['2001:db8:30:2::1/126', '2001:db8:30:2::2/126', '2001:db8:30:2::3/126']],
        ['2001:db8:30:3::/126', { is_pool: true }, ['2001:db8:30:3::/126', '2001:db8:30:3::1/126', '2001:db8:30:3::2/126', '2001:db8:30:3::3/126']],
        ['2001:db8:30:1::/127', {}, ['2001:db8:30:1::/127', '2001:db8:30:1::1/127']],
        ['2001:db8:30:4::1/128', {}, ['2001:db8:30:4::1/128']],
      ];
      const problems: string[] = [];
      for (const [text, extra, expected] of cases) {
        const got = await available(`prefixes/${(await prefix(text, extra)).id}`);
        if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`${text} ${JSON.stringify(extra)}: expected ${expected.join(' ')}, got ${got.join(' ')}`);
      }
      assert.deepEqual(problems, []);

      const v6 = await prefix('2001:db8:30::/64');
      const v6first = (await get(`/api/ipam/prefixes/${v6.id}/available-ips/?limit=3`)) as Json[];
      assert.deepEqual(v6first, ['2001:db8:30::1/64', '2001:db8:30::2/64', '2001:db8:30::3/64'].map((address) => ({ family: 6, address, vrf: null })));
      expect(await api.call('GET', '/api/ipam/prefixes/99999/available-ips/'), 404);
      expect(await api.call('GET', `/api/ipam/prefixes/${net.id}/available-ips/?limit=-1`), 400);
    });

    test('POST available-ips allocates one or a list, all or none; 409 says how many are available', async () => {
      const net = await prefix('10.31.0.0/29');
      const url = `/api/ipam/prefixes/${net.id}/available-ips/`;
      const one = expect(await api.call('POST', url, { body: { description: 'first', dns_name: 'a.example.com', tenant: ids.acme } }), 201);
      assert.equal(one.address, '10.31.0.1/29');
      assert.equal(one.description, 'first');
      assert.equal(one.dns_name, 'a.example.com');
      assert.equal(one.tenant.slug, 'acme');
      assert.deepEqual(one.family, { value: 4, label: 'IPv4' });
      assert.match(one.url, new RegExp(`/api/ipam/ip-addresses/${one.id}/$`));
      const empty = expect(await api.call('POST', url), 201);
      assert.equal(empty.address, '10.31.0.2/29', 'no body allocates one with defaults');
      const two = expect(await api.call('POST', url, { body: [{ description: 'a' }, { description: 'b' }] }), 201);
      assert.deepEqual(two.map((ip: Json) => [ip.address, ip.description]), [['10.31.0.3/29', 'a'], ['10.31.0.4/29', 'b']]);

      const audits = (await api.services.audit.list({ limit: 1 })).count;
      const refusals = [
        ...refusalProblem('address given', await api.call('POST', url, { body: { address: '10.31.0.6/29' } }), 400, 'body.address'),
        ...refusalProblem('bad field in item 1', await api.call('POST', url, { body: [{}, { status: 'nope' }] }), 400, 'body.1.status'),
        ...refusalProblem('unknown field', await api.call('POST', url, { body: { colour: 'red' } }), 400, 'body.colour'),
        ...refusalProblem('item not an object', await api.call('POST', url, { body: [{}, 5] }), 400, 'body.1'),
      ];
      assert.deepEqual(refusals, []);
      const tooMany = await api.call('POST', url, { body: [{}, {}, {}] });
      assert.equal(tooMany.statusCode, 409, tooMany.body);
      assert.match(tooMany.json().detail, /3 requested, 2 available/);
      assert.equal((await api.services.audit.list({ limit: 1 })).count, audits, 'a refused allocation writes nothing');
      assert.deepEqual(await available(`prefixes/${net.id}`), ['10.31.0.5/29', '10.31.0.6/29']);

      const last = expect(await api.call('POST', url, { body: [{}, {}] }), 201);
      assert.deepEqual(last.map((ip: Json) => ip.address), ['10.31.0.5/29', '10.31.0.6/29']);
      const full = await api.call('POST', url, { body: {} });
      assert.equal(full.statusCode, 409, full.body);
      assert.match(full.json().detail, /1 requested, 0 available/);
      assert.deepEqual(await available(`prefixes/${net.id}`), []);
      assert.equal(await countOf('/api/ipam/ip-addresses/?parent=10.31.0.0/29'), 6);
      const audit = await get(`/api/audit/?object_type=ipam.ipaddress&object_id=${one.id}`);
      assert.deepEqual(audit.results.map((e: Json) => e.action), ['create']);

      // A tenant-restricted token cannot allocate from another tenant's prefix, or see it.
      const theirs = await prefix('10.31.1.0/29', { tenant: ids.globex });
      const acme = await api.tokenWith('write', { tenant: 'acme' });
      expect(await api.call('POST', `/api/ipam/prefixes/${theirs.id}/available-ips/`, { token: acme, body: {} }), 404);
      expect(await api.call('GET', `/api/ipam/prefixes/${theirs.id}/available-ips/`, { token: acme }), 404);
      const mine = await prefix('10.31.2.0/29', { tenant: ids.acme });
      const allocated = expect(await api.call('POST', `/api/ipam/prefixes/${mine.id}/available-ips/`, { token: acme, body: {} }), 201);
      assert.equal(allocated.tenant?.slug, 'acme', 'an allocation by a restricted token lands in its tenant');
    });

    test('IP ranges: validation, size, and available-ips inside the range', async () => {
      const range = await post('ipam/ip-ranges', { start_address: '10.32.0.10/24', end_address: '10.32.0.14/24' });
      assert.equal(range.size, 5);
      assert.deepEqual(range.family, { value: 4, label: 'IPv4' });
      const url = `/api/ipam/ip-ranges/${range.id}/available-ips/`;
      assert.deepEqual(await available(`ip-ranges/${range.id}`), ['10.32.0.10/24', '10.32.0.11/24', '10.32.0.12/24', '10.32.0.13/24', '10.32.0.14/24']);
      const two = expect(await api.call('POST', url, { body: [{}, {}] }), 201);
      assert.deepEqual(two.map((ip: Json) => ip.address), ['10.32.0.10/24', '10.32.0.11/24']);
      await post('ipam/ip-addresses', { address: '10.32.0.12/24' });
      assert.deepEqual(await available(`ip-ranges/${range.id}`), ['10.32.0.13/24', '10.32.0.14/24']);
      const tooMany = await api.call('POST', url, { body: [{}, {}, {}] });
      assert.equal(tooMany.statusCode, 409, tooMany.body);
      assert.match(tooMany.json().detail, /3 requested, 2 available/);

      const problems = [
        ...refusalProblem('end before start', await api.call('POST', '/api/ipam/ip-ranges/', { body: { start_address: '10.33.0.9/24', end_address: '10.33.0.1/24' } }), 400, 'body.end_address'),
        ...refusalProblem('mixed families', await api.call('POST', '/api/ipam/ip-ranges/', { body: { start_address: '10.33.0.1/24', end_address: '2001:db8::1/64' } }), 400, 'body.end_address'),
        ...refusalProblem('different masks', await api.call('POST', '/api/ipam/ip-ranges/', { body: { start_address: '10.33.0.1/24', end_address: '10.33.0.9/25' } }), 400, 'body.end_address'),
        ...refusalProblem('no mask', await api.call('POST', '/api/ipam/ip-ranges/', { body: { start_address: '10.33.0.1', end_address: '10.33.0.9/24' } }), 400, 'body.start_address'),
      ];
      assert.deepEqual(problems, []);
    });

    test('available-prefixes: GET lists the largest free blocks, POST {prefix_length} allocates, 409 when there is no room', async () => {
      const parent = await prefix('10.40.0.0/16', { status: 'container' });
      await prefix('10.40.0.0/24');
      const url = `/api/ipam/prefixes/${parent.id}/available-prefixes/`;
      const free = (await get(url)) as Json[];
      assert.deepEqual(free[0], { family: 4, prefix: '10.40.1.0/24', vrf: null });
      assert.deepEqual(
        free.map((p) => p.prefix),
        ['10.40.1.0/24', '10.40.2.0/23', '10.40.4.0/22', '10.40.8.0/21', '10.40.16.0/20', '10.40.32.0/19', '10.40.64.0/18', '10.40.128.0/17'],
      );
      const a = expect(await api.call('POST', url, { body: { prefix_length: 24, description: 'a', tenant: ids.acme } }), 201);
      assert.equal(a.prefix, '10.40.1.0/24');
      assert.equal(a.description, 'a');
      assert.equal(a.tenant.slug, 'acme');
      assert.equal(expect(await api.call('POST', url, { body: { prefix_length: 25 } }), 201).prefix, '10.40.2.0/25');
      const pair = expect(await api.call('POST', url, { body: [{ prefix_length: 23 }, { prefix_length: 23 }] }), 201);
      assert.deepEqual(pair.map((p: Json) => p.prefix), ['10.40.4.0/23', '10.40.6.0/23']);
      assert.equal((await get(url))[0].prefix, '10.40.2.128/25');

      const problems = [
        ...refusalProblem('as long as the parent', await api.call('POST', url, { body: { prefix_length: 16 } }), 400, 'body.prefix_length'),
        ...refusalProblem('longer than 32', await api.call('POST', url, { body: { prefix_length: 33 } }), 400, 'body.prefix_length'),
        ...refusalProblem('missing', await api.call('POST', url, { body: {} }), 400, 'body.prefix_length'),
        ...refusalProblem('a string', await api.call('POST', url, { body: { prefix_length: '24' } }), 400, 'body.prefix_length'),
        ...refusalProblem('bad item 1', await api.call('POST', url, { body: [{ prefix_length: 24 }, { prefix_length: 8 }] }), 400, 'body.1.prefix_length'),
      ];
      assert.deepEqual(problems, []);

      const small = await prefix('10.41.0.0/29');
      const smallUrl = `/api/ipam/prefixes/${small.id}/available-prefixes/`;
      const count = await countOf('/api/ipam/prefixes/?within=10.41.0.0/29');
      const noRoom = await api.call('POST', smallUrl, { body: [{ prefix_length: 30 }, { prefix_length: 30 }, { prefix_length: 30 }] });
      assert.equal(noRoom.statusCode, 409, noRoom.body);
      assert.match(noRoom.json().detail, /insufficient/);
      assert.equal(await countOf('/api/ipam/prefixes/?within=10.41.0.0/29'), count, 'all or none');
      expect(await api.call('POST', smallUrl, { body: [{ prefix_length: 30 }, { prefix_length: 31 }, { prefix_length: 31 }] }), 201);
      assert.deepEqual(await get(smallUrl), []);
      expect(await api.call('POST', smallUrl, { body: { prefix_length: 32 } }), 409);

      const v6 = await prefix('2001:db8:40::/48');
      const v6child = expect(await api.call('POST', `/api/ipam/prefixes/${v6.id}/available-prefixes/`, { body: { prefix_length: 64 } }), 201);
      assert.equal(v6child.prefix, '2001:db8:40::/64');
      assert.deepEqual(v6child.family, { value: 6, label: 'IPv6' });
    });

    test('an address is used once; deleting or moving an IP address frees it for the next allocation', async () => {
      await post('ipam/ip-addresses', [{ address: '10.50.0.5/24' }, { address: '2001:db8:50::5/64' }]);
      const count = await countOf('/api/ipam/ip-addresses/');
      const cases: Array<[string, unknown, string]> = [
        ['same address', { address: '10.50.0.5/24' }, 'body.address'],
        ['same host, other mask', { address: '10.50.0.5/16' }, 'body.address'],
        ['same IPv6 in other spelling', { address: '2001:DB8:50:0::5/64' }, 'body.address'],
        ['bad octet', { address: '10.50.0.300/24' }, 'body.address'],
        ['no mask', { address: '10.50.0.6' }, 'body.address'],
        ['list with a duplicate of item 0', [{ address: '10.50.0.7/24' }, { address: '10.50.0.7/24' }], 'body.1.address'],
        ['assigned to nothing', { address: '10.50.0.8/24', assigned_object_type: 'dcim.interface' }, 'body.assigned_object_id'],
        ['assigned to a missing interface', { address: '10.50.0.8/24', assigned_object_type: 'dcim.interface', assigned_object_id: 99_999 }, 'body.assigned_object_id'],
      ];
      const problems: string[] = [];
      for (const [label, body, field] of cases) problems.push(...refusalProblem(label, await api.call('POST', '/api/ipam/ip-addresses/', { body }), 400, field));
      assert.deepEqual(problems, []);
      assert.equal(await countOf('/api/ipam/ip-addresses/'), count);
      const stored = await listed('/api/ipam/ip-addresses/?parent=2001:db8:50::/48', 'address');
      assert.deepEqual(stored, ['2001:db8:50::5/64']);

      const net = await prefix('10.51.0.0/29');
      const url = `/api/ipam/prefixes/${net.id}/available-ips/`;
      const [a, b, c] = expect(await api.call('POST', url, { body: [{}, {}, {}] }), 201) as Json[];
      assert.deepEqual([a!.address, b!.address, c!.address], ['10.51.0.1/29', '10.51.0.2/29', '10.51.0.3/29']);
      expect(await api.call('DELETE', `/api/ipam/ip-addresses/${b!.id}/`), 204);
      const again = expect(await api.call('POST', url, { body: {} }), 201);
      assert.equal(again.address, '10.51.0.2/29', 'the freed address comes next');

      expect(await api.call('PATCH', `/api/ipam/ip-addresses/${a!.id}/`, { body: { address: '10.51.0.6/29' } }), 200);
      assert.deepEqual(await available(`prefixes/${net.id}`), ['10.51.0.1/29', '10.51.0.4/29', '10.51.0.5/29'], 'moving frees the old address and takes the new');
      expect(await api.call('DELETE', '/api/ipam/ip-addresses/', { body: [{ id: a!.id }, { id: c!.id }] }), 204);
      assert.deepEqual(await available(`prefixes/${net.id}`), ['10.51.0.1/29', '10.51.0.3/29', '10.51.0.4/29', '10.51.0.5/29', '10.51.0.6/29']);
      expect(await api.call('PATCH', `/api/ipam/ip-addresses/${again.id}/`, { body: { address: '10.50.0.5/24' } }), 400);
      assert.deepEqual(await available(`prefixes/${net.id}`), ['10.51.0.1/29', '10.51.0.3/29', '10.51.0.4/29', '10.51.0.5/29', '10.51.0.6/29']);
    });

    test('parallel requests: allocations never hand out an address or prefix twice; one prefix is created once', async () => {
      const net = await prefix('10.70.0.0/27');
      const ips = await Promise.all(Array.from({ length: 20 }, () => api.call('POST', `/api/ipam/prefixes/${net.id}/available-ips/`, { body: {} })));
      assert.deepEqual(ips.map((r) => r.statusCode), Array(20).fill(201), ips.map((r) => r.body).join('\n'));
      assert.equal(new Set(ips.map((r) => r.json().address)).size, 20);
      assert.equal(await countOf('/api/ipam/ip-addresses/?parent=10.70.0.0/27'), 20);

      const parent = await prefix('10.71.0.0/16', { status: 'container' });
      const children = await Promise.all(Array.from({ length: 12 }, () => api.call('POST', `/api/ipam/prefixes/${parent.id}/available-prefixes/`, { body: { prefix_length: 24 } })));
      assert.deepEqual(children.map((r) => r.statusCode), Array(12).fill(201));
      assert.equal(new Set(children.map((r) => r.json().prefix)).size, 12);

      // The uniqueness check must hold under concurrency too (on PostgreSQL, two READ COMMITTED transactions
      // both find no clash unless something serialises them).
      const same = await Promise.all(Array.from({ length: 8 }, () => api.call('POST', '/api/ipam/prefixes/', { body: { prefix: '10.72.0.0/24' } })));
      const statuses = same.map((r) => r.statusCode).sort();
      const stored = await countOf('/api/ipam/prefixes/?within_include=10.72.0.0/24');
      const problems: string[] = [];
      if (JSON.stringify(statuses) !== JSON.stringify([201, ...Array(7).fill(400)])) problems.push(`8 parallel POSTs of one prefix: statuses ${statuses.join(',')}`);
      for (const r of same.filter((r) => r.statusCode !== 201)) problems.push(...refusalProblem('parallel duplicate prefix', r, 400, 'body.prefix'));
      if (stored !== 1) problems.push(`8 parallel POSTs of one prefix stored ${stored} prefixes`);
      assert.deepEqual([...new Set(problems)], []);
    });

    test('whois names the narrowest prefix with its tenant, the ranges, and the IP address with its interface and device', async () => {
      await prefix('10.60.0.0/16', { tenant: ids.globex, status: 'container' });
      await prefix('10.60.1.0/24', { tenant: ids.acme });
      const range = await post('ipam/ip-ranges', { start_address: '10.60.1.100/24', end_address: '10.60.1.150/24' });
      const ip = await post('ipam/ip-addresses', { address: '10.60.1.120/24', assigned_object_type: 'dcim.interface', assigned_object_id: ids['node-1:eth0'] });

      for (const address of ['10.60.1.120', '10.60.1.120/24']) {
        const found = await get(`/api/ipam/whois/?address=${encodeURIComponent(address)}`);
        assert.equal(found.address, '10.60.1.120');
        assert.equal(found.prefix.prefix, '10.60.1.0/24');
        assert.equal(found.prefix.tenant.slug, 'acme');
        assert.deepEqual(found.ip_ranges.map((r: Json) => r.id), [range.id]);
        assert.equal(found.ip_address.id, ip.id);
        assert.equal(found.ip_address.address, '10.60.1.120/24');
        assert.equal(found.ip_address.assigned_object.id, ids['node-1:eth0']);
        assert.equal(found.ip_address.assigned_object.name, 'eth0');
        assert.equal(found.ip_address.assigned_object.device.name, 'node-1');
        assert.equal(found.ip_address.assigned_object.device.id, ids['node-1']);
      }
      const outer = await get('/api/ipam/whois/?address=10.60.2.1');
      assert.equal(outer.prefix.prefix, '10.60.0.0/16');
      assert.equal(outer.prefix.tenant.slug, 'globex');
      assert.deepEqual(outer.ip_ranges, []);
      assert.equal(outer.ip_address, null);
      const nobody = await get('/api/ipam/whois/?address=192.0.2.1');
      assert.deepEqual([nobody.address, nobody.prefix, nobody.ip_address], ['192.0.2.1', null, null]);
      const v6 = await get('/api/ipam/whois/?address=2001:db8:f:1::5');
      assert.equal(v6.prefix.prefix, '2001:db8:f:1::/64');
      assert.equal(v6.ip_address.address, '2001:db8:f:1::5/64');

      const acme = await api.tokenWith('read', { tenant: 'acme' });
      assert.equal((await get('/api/ipam/whois/?address=10.60.1.120', acme)).prefix.prefix, '10.60.1.0/24');
      assert.equal((await get('/api/ipam/whois/?address=10.60.2.1', acme)).prefix, null, 'another tenant\'s prefix stays hidden');

      const problems = [
        ...refusalProblem('bad address', await api.call('GET', '/api/ipam/whois/?address=10.60.1.300'), 400, 'query.address'),
        ...refusalProblem('missing address', await api.call('GET', '/api/ipam/whois/'), 400, 'query.address'),
        ...refusalProblem('unknown parameter', await api.call('GET', '/api/ipam/whois/?address=10.0.0.1&colour=red'), 400, 'query.colour'),
      ];
      assert.deepEqual(problems, []);
    });
  });
}
