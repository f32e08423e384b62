import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { keyColumnType, withAutoId } from './columns.js';

export function ipamRuns(backend: Backend): Migration {
  const keyType = keyColumnType(backend);
  return {
    async up(db: Kysely<unknown>) {
      await withAutoId(db.schema.createTable('ipam_used_runs'), backend)
        .addColumn('family', 'integer', (c) => c.notNull())
        .addColumn('start_key', keyType, (c) => c.notNull())
        .addColumn('end_key', keyType, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ipam_used_runs_start').on('ipam_used_runs').columns(['family', 'start_key']).unique().execute();
    },
  };
}
