import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { runStatements, schemaBuilder } from './columns.js';

/** Boot data (boot/resources.ts), reactors (events/resources.ts), and what fleet-as-code manages (fleet/). */
export function bootFleet(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const { statements, table, index, text, ref, bool } = schemaBuilder(db, backend);
      table('boot_subnets', [
        text('name'),
        ref('site'),
        text('prefix'),
        text('mode'),
        ['pools', 'text', { notNull: true, default: '[]' }],
        text('router', false),
        ['dns_servers', 'text', { notNull: true, default: '[]' }],
        text('domain_name'),
        ['lease_time', 'integer', { notNull: true, default: 3600 }],
        text('next_server', false),
        text('boot_server'),
        text('description'),
      ]);
      index('boot_subnets', ['name'], true);
      table('boot_images', [text('name'), text('description')]);
      index('boot_images', ['name'], true);
      table('boot_image_versions', [ref('image'), text('version'), text('kernel'), text('initrd'), text('rootfs'), text('description')]);
      index('boot_image_versions', ['image_id', 'version'], true);
      table('boot_profiles', [
        text('name'),
        text('boot'),
        ref('image_version'),
        text('kernel_args'),
        ['playbooks', 'text', { notNull: true, default: '[]' }],
        bool('discovery', false),
        text('description'),
      ]);
      index('boot_profiles', ['name'], true);
      table('extras_reactors', [text('name'), text('event'), text('subject'), text('job'), bool('enabled', true), ['cooldown', 'integer', { notNull: true, default: 60 }], text('description')]);
      index('extras_reactors', ['name'], true);
      statements.push(db.schema.alterTable('dcim_devices').addColumn('boot_profile_id', 'bigint'));
      index('dcim_devices', ['boot_profile_id']);
      // An object fleet-as-code created: its key in the repo and the fields as last applied (drift compares them).
      statements.push(
        db.schema
          .createTable('fleet_managed')
          .addColumn('object_type', 'text', (c) => c.notNull())
          .addColumn('object_id', 'bigint', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('applied', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('fleet_managed_pk', ['object_type', 'object_id']),
      );
      index('fleet_managed', ['object_type', 'key'], true);
      await runStatements(db, backend, statements);
    },
  };
}
