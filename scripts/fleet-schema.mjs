#!/usr/bin/env node
// Regenerates docs/fleet.schema.json from compiled code: `node scripts/fleet-schema.mjs [BUILD_DIR]` (default dist,
// after `npm run build`). The fleet schema-file test fails until the committed file matches the kind table.
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const build = resolve(root, process.argv[2] ?? 'dist');
const load = (path) => import(pathToFileURL(join(build, path)).href);

const { fleetSchema } = await load('src/fleet/document.js');
const { kindsOf } = await load('src/fleet/kinds.js');
const { ResourceRegistry } = await load('src/inventory/registry.js');
const { INVENTORY_RESOURCES } = await load('src/main.js');

const target = join(root, 'docs', 'fleet.schema.json');
writeFileSync(target, `${JSON.stringify(fleetSchema(kindsOf(new ResourceRegistry(INVENTORY_RESOURCES))), null, 2)}\n`);
process.stdout.write(`wrote ${target}\n`);
