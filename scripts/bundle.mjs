// Bundles the compiled CLI into one file, dist/hangar.mjs: Node loads one module instead of about a thousand,
// which halves start-up time (`hangar serve` must answer within a second). Native addons stay external.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli/hangar.js'],
  outfile: 'dist/hangar.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  // Bundled CommonJS dependencies call require(); give them Node's.
  banner: { js: "import { createRequire as __hangarRequire } from 'node:module'; const require = __hangarRequire(import.meta.url);" },
  logLevel: 'warning',
});
