// Bundles the compiled CLI into one file, dist/hangar.mjs: Node loads one module instead of about a thousand,
// which halves start-up time. Worker threads get bundles of their own beside it, at the path their compiled
// module has relative to its parent's (see src/boot/dhcp/lease-writer.ts). Native addons stay external.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  // Bundled CommonJS dependencies call require(); give them Node's.
  banner: { js: "import { createRequire as __hangarRequire } from 'node:module'; const require = __hangarRequire(import.meta.url);" },
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['dist/src/cli/hangar.js'], outfile: 'dist/hangar.mjs' });
await build({ ...common, entryPoints: ['dist/src/boot/dhcp/lease-writer-worker.js'], outfile: 'dist/lease-writer-worker.js' });
