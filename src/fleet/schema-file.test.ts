import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';
import { ResourceRegistry } from '../inventory/registry.js';
import { INVENTORY_RESOURCES } from '../main.js';
import { fileValidator, fleetSchema, readFleet } from './document.js';
import { repositoryFiles } from './files.js';
import { kindsOf } from './kinds.js';

/**
 * docs/fleet.schema.json is what editors validate against, and examples/fleet is what people copy: both must follow
 * the kind table, so a change to it that leaves either behind fails here.
 */

const REGENERATE = 'npm run build && node scripts/fleet-schema.mjs';

/** The checkout: the build directory (dist/, .build-x/) has a package.json too, but no docs/. */
function repositoryRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'docs')) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hangar') return dir;
    if (dirname(dir) === dir) throw new Error(`no hangar checkout above ${fileURLToPath(import.meta.url)}`);
  }
}

const root = repositoryRoot();
const kinds = kindsOf(new ResourceRegistry(INVENTORY_RESOURCES));
const examples = join(root, 'examples', 'fleet');

describe('docs/fleet.schema.json', () => {
  test('is the schema the kind table generates', () => {
    const committed: unknown = JSON.parse(readFileSync(join(root, 'docs', 'fleet.schema.json'), 'utf8'));
    assert.deepEqual(committed, fleetSchema(kinds), `docs/fleet.schema.json is stale: regenerate it with \`${REGENERATE}\``);
  });
});

describe('examples/fleet', async () => {
  const files = await repositoryFiles(examples);
  const validate = fileValidator(kinds);

  for (const file of files) {
    test(`${file.path} validates against the schema`, () => {
      const valid = validate(loadYaml(file.content) ?? {});
      const errors = (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`);
      assert.ok(valid, `${file.path}:\n  ${errors.join('\n  ')}`);
    });

    test(`${file.path} points editors at docs/fleet.schema.json`, () => {
      const modeline = /^# yaml-language-server: \$schema=(\S+)$/m.exec(file.content);
      assert.ok(modeline, `${file.path} has no '# yaml-language-server: $schema=...' line`);
      assert.equal(resolve(examples, dirname(file.path), modeline[1]!), join(root, 'docs', 'fleet.schema.json'));
    });
  }

  test('the repository reads without problems', () => {
    const fleet = readFleet(files, kinds, validate);
    const lists = new Set(fleet.objects.map((object) => object.kind.list));
    // Nested kinds and interface addresses come out as objects of their own.
    for (const list of ['devices', 'interfaces', 'addresses', 'images', 'versions', 'profiles']) assert.ok(lists.has(list), `no ${list} read`);
    assert.ok(
      fleet.objects.some((object) => object.allocateFrom !== undefined),
      'the example shows an address allocated from a prefix',
    );
    assert.equal(fleet.settings.allow_delete, false);
  });
});
