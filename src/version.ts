import { readFileSync } from 'node:fs';

/** Compiled to dist/src/version.js: the package manifest is two levels up. */
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const HANGAR_VERSION: string = manifest.version;
