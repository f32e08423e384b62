import type { Migration, MigrationProvider } from 'kysely';
import type { Backend } from '../store.js';
import { foundation } from './0001_foundation.js';

/**
 * The one migration history. Each entry is a function of the backend, because a few column types differ
 * (auto-increment ids); everything else is the same SQL.
 */
const history: ReadonlyArray<[string, (backend: Backend) => Migration]> = [['0001_foundation', foundation]];

export function migrationProvider(backend: Backend): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(history.map(([name, make]) => [name, make(backend)]));
    },
  };
}
