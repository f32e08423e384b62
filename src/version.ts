import manifest from '../package.json' with { type: 'json' };

export const HANGAR_VERSION: string = manifest.version;
