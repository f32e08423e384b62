import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { runStatements, schemaBuilder } from './columns.js';

/**
 * The registered files of image versions (size and sha256 per kernel, initrd and root filesystem; null until the
 * file is registered), and the image mirrors of each site that per-machine iPXE scripts list.
 */
export function imageFilesMirrors(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const { statements, table, index, text, ref, bool } = schemaBuilder(db, backend);
      for (const role of ['kernel', 'initrd', 'rootfs']) {
        statements.push(db.schema.alterTable('boot_image_versions').addColumn(`${role}_size`, 'bigint'));
        statements.push(db.schema.alterTable('boot_image_versions').addColumn(`${role}_sha256`, 'text', (c) => c.notNull().defaultTo('')));
      }
      table('boot_mirrors', [text('name'), ref('site'), text('base_url'), ['weight', 'integer', { notNull: true, default: 100 }], bool('enabled', true), text('description')]);
      index('boot_mirrors', ['name'], true);
      index('boot_mirrors', ['site_id']);
      await runStatements(db, backend, statements);
    },
  };
}
