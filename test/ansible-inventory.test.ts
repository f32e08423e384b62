/**
 * The rendered inventory read by the real thing: Debian's ansible-inventory (ansible-core 2.14, PyYAML with
 * libyaml) must see exactly the hosts, variables and groups that went in, and `!unsafe` on every string of a
 * variable unless templates are allowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { ANSIBLE_ENV } from '../src/jobs/ansible/command.js';
import { inventoryHosts, normalized } from '../src/jobs/ansible/inventory-arbitraries.js';
import { renderInventory, type JsonValue } from '../src/jobs/ansible/inventory.js';

const run = promisify(execFile);

interface Export {
  readonly _meta: { readonly hostvars: Record<string, Record<string, unknown>> };
  readonly [group: string]: unknown;
}

/** ansible-inventory prints an unsafe string as {"__ansible_unsafe": text}; this unwraps it, counting. */
function unwrap(value: unknown, counts: { unsafe: number; plain: number }): unknown {
  if (typeof value === 'string') {
    counts.plain++;
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => unwrap(item, counts));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0]?.[0] === '__ansible_unsafe' && typeof entries[0][1] === 'string') {
      counts.unsafe++;
      return entries[0][1];
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, unwrap(item, counts)]));
  }
  return value;
}

test('property: ansible-inventory reads back every host, variable and group', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hangar-inventory-test-'));
  try {
    await fc.assert(
      fc.asyncProperty(inventoryHosts(30), fc.boolean(), async (hosts, allowTemplates) => {
        const path = join(dir, 'inventory.yml');
        await writeFile(path, renderInventory({ hosts, allowTemplates }));
        const { stdout } = await run('ansible-inventory', ['-i', path, '--list', '--export'], {
          env: { ...process.env, ...ANSIBLE_ENV },
          maxBuffer: 64 * 1024 * 1024,
        });
        const exported = JSON.parse(stdout) as Export;
        const counts = { unsafe: 0, plain: 0 };
        for (const host of hosts) {
          const expected = normalized(host.address === undefined ? host.vars : { ansible_host: host.address, ...host.vars });
          const actual = unwrap(exported._meta.hostvars[host.name] ?? {}, counts);
          assert.deepEqual(actual, expected as JsonValue, `host ${host.name}`);
          for (const group of host.groups) {
            const members = (exported[group] as { hosts?: string[] } | undefined)?.hosts ?? [];
            assert.ok(members.includes(host.name), `${host.name} in ${group}`);
          }
        }
        if (allowTemplates) assert.equal(counts.unsafe, 0);
        else assert.equal(counts.plain, 0, 'every string of a variable is unsafe');
      }),
      { numRuns: 4, endOnFailure: true },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
