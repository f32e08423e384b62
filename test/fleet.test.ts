import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, testBackends, type TestDatabase } from '../src/store/database-fixture.js';
import { HANGAR_BIN, hangar, startHangar, type RunningHangar } from './lab/hangar-process.js';

/**
 * Fleet as code as operators use it: the bundled CLI's plan, apply and drift against a real `hangar serve`, on a
 * copy of examples/fleet kept in a real git work tree; and `hangar serve --sync-repo` following a branch.
 */

const EXAMPLE = fileURLToPath(new URL('../../examples/fleet', import.meta.url));

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface Plan {
  changes: Array<{ action: string; kind: string; key: string; fields: Array<{ field: string; old?: unknown; new?: unknown }>; adopt?: boolean; renamedFrom?: string }>;
  summary: { create: number; update: number; delete: number };
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'Ops Person', GIT_AUTHOR_EMAIL: 'ops@example.net', GIT_COMMITTER_NAME: 'Ops Person', GIT_COMMITTER_EMAIL: 'ops@example.net' },
  }).trim();
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} does not contain ${from}`);
  writeFileSync(file, text.replace(from, to));
}

class FleetLab {
  readonly repo: string;
  token = '';
  constructor(
    readonly server: RunningHangar,
    readonly database: TestDatabase,
    readonly root: string,
  ) {
    this.repo = join(root, 'fleet');
  }

  static async start(database: TestDatabase, extraArgs: string[] = []): Promise<FleetLab> {
    const root = mkdtempSync(join(tmpdir(), 'hangar-fleet-'));
    cpSync(EXAMPLE, join(root, 'fleet'), { recursive: true });
    git(join(root, 'fleet'), 'init', '--quiet', '--initial-branch=main');
    git(join(root, 'fleet'), 'add', '.');
    git(join(root, 'fleet'), 'commit', '--quiet', '-m', 'fleet');
    const created = hangar(database.location, 'token', 'create', '--scope', 'admin');
    assert.equal(created.status, 0, created.stderr);
    const lab = new FleetLab(await startHangar(database.location, extraArgs), database, root);
    lab.token = created.stdout.trim();
    return lab;
  }

  run(...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [HANGAR_BIN, ...args],
        { env: { ...process.env, HANGAR_URL: this.server.url, HANGAR_TOKEN: this.token }, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });
  }

  async plan(): Promise<{ status: number | null; plan: Plan; stderr: string }> {
    const result = await this.run('plan', '--repo', this.repo, '--json');
    return { status: result.status, plan: (result.stdout ? JSON.parse(result.stdout) : null) as Plan, stderr: result.stderr };
  }

  async apply(...extra: string[]): Promise<Result> {
    return this.run('apply', '--repo', this.repo, '--yes', ...extra);
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.server.url}${path}`, {
      method,
      headers: { authorization: `Token ${this.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async device(name: string): Promise<{ id: number; serial: string; name: string } | undefined> {
    const page = await this.api<{ results: Array<{ id: number; serial: string; name: string }> }>('GET', `/api/dcim/devices/?name=${name}`);
    return page.results[0];
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.database.drop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

function ok(result: Result): string {
  assert.equal(result.status, 0, `exit ${result.status}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe('fleet plan / apply / drift (SQLite)', () => {
  let lab: FleetLab;
  before(async () => {
    lab = await FleetLab.start(await createTestDatabase('sqlite'));
  });
  after(async () => lab?.stop());

  test('a repository with mistakes is refused with file, line and column, and nothing is applied', async () => {
    const sites = join(lab.repo, 'sites.yaml');
    const original = readFileSync(sites, 'utf8');
    edit(sites, '  - { site: ams1, name: r02, u_height: 42 }', '  - { site: ams1, name: r02, u_hieght: 42 }');
    edit(sites, 'lease_time: 3600', 'lease_time: soon');
    try {
      const plan = await lab.run('plan', '--repo', lab.repo);
      assert.equal(plan.status, 1);
      assert.match(plan.stderr, /sites\.yaml:8:30: racks\[1\]: unknown field 'u_hieght'/);
      assert.match(plan.stderr, /sites\.yaml:\d+:17: boot_subnets\[0\]\.lease_time: must be integer/);
      const apply = await lab.apply();
      assert.equal(apply.status, 1);
      assert.equal((await lab.api<{ count: number }>('GET', '/api/dcim/sites/')).count, 0);
    } finally {
      writeFileSync(sites, original);
    }
    const broken = join(lab.repo, 'broken.yaml');
    writeFileSync(broken, 'sites:\n  - { slug: x, name: [unclosed\n');
    const syntax = await lab.run('plan', '--repo', lab.repo);
    assert.equal(syntax.status, 1);
    assert.match(syntax.stderr, /broken\.yaml:\d+:\d+: /);
    writeFileSync(broken, 'racks:\n  - { site: nowhere, name: r9 }\n');
    const reference = await lab.run('plan', '--repo', lab.repo);
    assert.equal(reference.status, 1);
    assert.match(reference.stderr, /broken\.yaml:2:13: rack 'nowhere\/r9': site 'nowhere' is neither in the repository nor in Hangar/);
    rmSync(broken);
  });

  test('apply creates the fleet, records the commit, and a second plan is empty', async () => {
    const first = await lab.plan();
    assert.equal(first.status, 2, first.stderr);
    assert.ok(first.plan.summary.create > 150);
    const markdown = await lab.run('plan', '--repo', lab.repo, '--format', 'markdown');
    assert.equal(markdown.status, 2);
    assert.match(markdown.stdout, /^### Hangar plan `[0-9a-f]+`/);
    assert.match(markdown.stdout, /\| `devices ams1-r01-s01` \| serial \| {2}\| "SN10001" \|/);
    ok(await lab.apply());
    const again = await lab.plan();
    assert.equal(again.status, 0, JSON.stringify(again.plan?.changes.slice(0, 3)));
    // Allocated addresses keep their place: the allocation is not planned again.
    const device = (await lab.device('ams1-r01-s04'))!;
    const iface = (await lab.api<{ results: Array<{ id: number }> }>('GET', `/api/dcim/interfaces/?device_id=${device.id}&name=eno1`)).results[0]!;
    const allocated = await lab.api<{ results: Array<{ address: string }> }>('GET', `/api/ipam/ip-addresses/?interface_id=${iface.id}`);
    assert.equal(allocated.results.length, 1);
    const head = git(lab.repo, 'rev-parse', 'HEAD');
    const audit = await lab.api<{ results: Array<{ context: { fleet?: { commit?: string; author?: string } } | null }> }>('GET', '/api/audit/?object_type=dcim.site');
    assert.equal(audit.results[0]?.context?.fleet?.commit, head);
    assert.equal(audit.results[0]?.context?.fleet?.author, 'Ops Person <ops@example.net>');
  });

  test('an update is planned field by field and applied', async () => {
    edit(join(lab.repo, 'devices/ams1.yaml'), 'serial: SN10001', 'serial: SN99999');
    const { status, plan } = await lab.plan();
    assert.equal(status, 2);
    assert.deepEqual(plan.changes, [
      { action: 'update', objectType: 'dcim.device', kind: 'devices', key: 'ams1-r01-s01', id: (await lab.device('ams1-r01-s01'))!.id, fields: [{ field: 'serial', old: 'SN10001', new: 'SN99999' }], source: 'devices/ams1.yaml:devices[0]' },
    ]);
    ok(await lab.apply());
    assert.equal((await lab.device('ams1-r01-s01'))?.serial, 'SN99999');
  });

  test('a device renamed with renamed_from keeps its id, interfaces and addresses', async () => {
    const before = await lab.device('ams1-r01-s02');
    edit(join(lab.repo, 'devices/ams1.yaml'), '  - name: ams1-r01-s02\n', '  - name: ams1-r01-s02-new\n    renamed_from: ams1-r01-s02\n');
    const { plan } = await lab.plan();
    assert.deepEqual(plan.changes[0]?.fields, [{ field: 'name', old: 'ams1-r01-s02', new: 'ams1-r01-s02-new' }]);
    assert.deepEqual(plan.changes[1]?.fields, []);
    assert.deepEqual(
      plan.changes.map((c) => [c.action, c.kind, c.key, c.renamedFrom]),
      [
        ['update', 'devices', 'ams1-r01-s02-new', 'ams1-r01-s02'],
        ['update', 'interfaces', 'ams1-r01-s02-new/eno1', 'ams1-r01-s02/eno1'],
        ['update', 'interfaces', 'ams1-r01-s02-new/ipmi', 'ams1-r01-s02/ipmi'],
      ],
    );
    ok(await lab.apply());
    assert.equal((await lab.device('ams1-r01-s02-new'))?.id, before?.id);
    assert.equal((await lab.plan()).status, 0);
  });

  test('a delete is refused without --allow-delete, then applied with it', async () => {
    const file = join(lab.repo, 'devices/fra1.yaml');
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('  - name: fra1-r02-s10\n');
    writeFileSync(file, text.slice(0, start));
    const { status, plan } = await lab.plan();
    assert.equal(status, 2);
    // The device, its two interfaces and its allocated address.
    assert.deepEqual(plan.summary, { create: 0, update: 0, delete: 4 });
    const refused = await lab.apply();
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /deletes 4 managed object\(s\) and deletion was not allowed; nothing was applied/);
    assert.match(refused.stderr, /- devices fra1-r02-s10/);
    assert.ok(await lab.device('fra1-r02-s10'));
    ok(await lab.apply('--allow-delete'));
    assert.equal(await lab.device('fra1-r02-s10'), undefined);
    assert.equal((await lab.plan()).status, 0);
  });

  test('drift shows managed objects changed through the API; objects the API created are left alone', async () => {
    const device = (await lab.device('ams1-r01-s03'))!;
    await lab.api('PATCH', `/api/dcim/devices/${device.id}/`, { serial: 'CHANGED-BY-HAND' });
    const site = (await lab.api<{ results: Array<{ id: number }> }>('GET', '/api/dcim/sites/?slug=ams1')).results[0]!;
    const role = (await lab.api<{ results: Array<{ id: number }> }>('GET', '/api/dcim/device-roles/?slug=compute')).results[0]!;
    const type = (await lab.api<{ results: Array<{ id: number }> }>('GET', '/api/dcim/device-types/?slug=r650')).results[0]!;
    await lab.api('POST', '/api/dcim/devices/', { name: 'hand-made', site: site.id, role: role.id, device_type: type.id });
    const drift = await lab.run('drift', '--repo', lab.repo, '--json');
    assert.equal(drift.status, 2);
    const report = JSON.parse(drift.stdout) as { count: number; results: Plan['changes'] };
    assert.equal(report.count, 1, JSON.stringify(report.results));
    assert.deepEqual(report.results[0]?.fields, [{ field: 'serial', old: 'SN10003', new: 'CHANGED-BY-HAND' }]);
    const { plan } = await lab.plan();
    assert.deepEqual(plan.changes.map((c) => [c.action, c.key]), [['update', 'ams1-r01-s03']]);
    ok(await lab.apply('--allow-delete'));
    assert.ok(await lab.device('hand-made'), 'an object the API created is never deleted by apply');
    assert.equal((await lab.run('drift')).status, 0);
  });
});

for (const backend of testBackends) {
  describe(`concurrent applies (${backend})`, () => {
    test('two applies at once never interleave: one applies, the other finds nothing left or a changed plan', async () => {
      const lab = await FleetLab.start(await createTestDatabase(backend));
      try {
        const results = await Promise.all([lab.apply(), lab.apply(), lab.apply()]);
        const statuses = results.map((r) => r.status);
        assert.ok(statuses.includes(0), JSON.stringify(results));
        for (const result of results.filter((r) => r.status !== 0)) assert.match(result.stderr, /the plan changed since it was approved|already exists/);
        assert.equal((await lab.plan()).status, 0);
        const devices = await lab.api<{ count: number }>('GET', '/api/dcim/devices/?limit=1');
        assert.equal(devices.count, 40);
        const verify = await lab.api<{ ok: boolean }>('GET', '/api/audit/verify/');
        assert.equal(verify.ok, true);
      } finally {
        await lab.stop();
      }
    });
  });
}

describe('hangar serve --sync-repo', () => {
  test('applies the branch, then each new commit, and reports it at /api/sync/status', async () => {
    const database = await createTestDatabase('sqlite');
    const root = mkdtempSync(join(tmpdir(), 'hangar-sync-'));
    const origin = join(root, 'origin');
    cpSync(EXAMPLE, origin, { recursive: true });
    git(origin, 'init', '--quiet', '--initial-branch=main');
    git(origin, 'add', '.');
    git(origin, 'commit', '--quiet', '-m', 'first');
    const lab = new FleetLab(await startHangar(database.location, ['--sync-repo', origin, '--sync-branch', 'main', '--sync-interval', '300ms']), database, root);
    lab.token = hangar(database.location, 'token', 'create', '--scope', 'read').stdout.trim();
    const waitFor = async (commit: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const status = await lab.api<{ applied_commit: string | null; last_error: string | null }>('GET', '/api/sync/status');
        if (status.applied_commit === commit) return status;
        assert.ok(Date.now() < deadline, `sync did not apply ${commit}: ${JSON.stringify(status)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    try {
      await waitFor(git(origin, 'rev-parse', 'HEAD'));
      assert.equal((await lab.device('fra1-r01-s01'))?.serial, 'SN20001');
      edit(join(origin, 'devices/fra1.yaml'), 'serial: SN20001', 'serial: SYNCED');
      git(origin, 'commit', '--quiet', '-am', 'new serial');
      const status = await waitFor(git(origin, 'rev-parse', 'HEAD'));
      assert.equal(status.last_error, null);
      assert.equal((await lab.device('fra1-r01-s01'))?.serial, 'SYNCED');
      // A commit that removes a device is not applied: the repository's settings do not allow deletes.
      const file = join(origin, 'devices/fra1.yaml');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.slice(0, text.indexOf('  - name: fra1-r02-s10\n')));
      git(origin, 'commit', '--quiet', '-am', 'remove a device');
      const head = git(origin, 'rev-parse', 'HEAD');
      const deadline = Date.now() + 30_000;
      let last: { last_commit: string | null; last_error: string | null } = { last_commit: null, last_error: null };
      while (Date.now() < deadline && !(last.last_commit === head && last.last_error)) {
        last = await lab.api('GET', '/api/sync/status');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(String(last.last_error), /deletion was not allowed/);
      assert.ok(await lab.device('fra1-r02-s10'));
    } finally {
      await lab.stop();
    }
  });
});
