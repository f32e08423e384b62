import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { runStatements, schemaBuilder, type Column } from './columns.js';

/** The NetBox-shaped inventory and IPAM tables (inventory/dcim.ts, inventory/tenancy.ts, ipam/resources.ts). */
export function inventory(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const { statements, table, index, text, ref, bool } = schemaBuilder(db, backend);
      const named = [text('name'), text('slug'), text('description')];

      table('tenancy_tenants', [...named, text('comments')]);
      index('tenancy_tenants', ['slug'], true);
      table('extras_tags', [...named, text('color')], 'tag');
      index('extras_tags', ['slug'], true);
      table('extras_tagged_items', [['object_type', 'text', { notNull: true }], ['object_id', 'bigint', { notNull: true }], ['tag_id', 'bigint', { notNull: true }]], 'link');
      index('extras_tagged_items', ['object_type', 'object_id', 'tag_id'], true);
      // tag= filters: all objects of a type with a tag, answered from the index alone.
      index('extras_tagged_items', ['object_type', 'tag_id', 'object_id']);

      table('dcim_regions', [...named, ref('parent')]);
      index('dcim_regions', ['slug'], true);
      table('dcim_site_groups', [...named, ref('parent')]);
      index('dcim_site_groups', ['slug'], true);
      table('dcim_sites', [...named, text('status'), ref('region'), ref('group'), ref('tenant'), text('facility'), text('time_zone', false), text('physical_address'), text('comments')]);
      index('dcim_sites', ['slug'], true);
      index('dcim_sites', ['tenant_id']);
      table('dcim_locations', [...named, ref('site'), ref('parent'), text('status'), ref('tenant')]);
      index('dcim_locations', ['site_id', 'name']);
      table('dcim_racks', [text('name'), ref('site'), ref('location'), text('status'), ref('tenant'), text('serial'), text('asset_tag', false), ['u_height', 'integer'], text('description'), text('comments')]);
      index('dcim_racks', ['site_id', 'name']);
      table('dcim_manufacturers', named);
      index('dcim_manufacturers', ['slug'], true);
      table('dcim_device_types', [ref('manufacturer'), text('model'), text('slug'), text('part_number'), ['u_height', 'real'], bool('is_full_depth', true), text('description'), text('comments')]);
      index('dcim_device_types', ['slug'], true);
      table('dcim_device_roles', [...named, text('color'), bool('vm_role', true)]);
      index('dcim_device_roles', ['slug'], true);
      table('dcim_platforms', [...named, ref('manufacturer')]);
      index('dcim_platforms', ['slug'], true);
      table('dcim_devices', [
        text('name', false),
        ref('device_type'),
        ref('role'),
        ref('tenant'),
        ref('platform'),
        text('serial'),
        text('asset_tag', false),
        ref('site'),
        ref('location'),
        ref('rack'),
        ['position', 'real'],
        text('face', false),
        text('status'),
        ref('primary_ip4'),
        ref('primary_ip6'),
        text('install_date', false),
        text('description'),
        text('comments'),
      ]);
      for (const columns of [['name'], ['site_id', 'role_id'], ['tenant_id'], ['role_id'], ['device_type_id'], ['serial'], ['status'], ['rack_id'], ['primary_ip4_id'], ['primary_ip6_id']]) {
        index('dcim_devices', columns);
      }
      table('dcim_interfaces', [ref('device'), text('name'), text('type'), bool('enabled', true), ['mtu', 'integer'], text('mac_address', false), bool('mgmt_only', false), text('description')]);
      index('dcim_interfaces', ['device_id', 'name'], true);
      index('dcim_interfaces', ['mac_address']);

      const ipKeys: Column[] = [['family', 'integer', { notNull: true }], ['mask_length', 'integer', { notNull: true }]];
      table('ipam_prefixes', [
        text('prefix'),
        ...ipKeys,
        ['start_key', 'key', { notNull: true }],
        ['end_key', 'key', { notNull: true }],
        text('status'),
        ref('site'),
        ref('tenant'),
        bool('is_pool', false),
        bool('mark_utilized', false),
        text('description'),
        text('comments'),
      ]);
      index('ipam_prefixes', ['family', 'start_key', 'end_key']);
      index('ipam_prefixes', ['tenant_id']);
      table('ipam_ip_ranges', [
        text('start_address'),
        text('end_address'),
        ...ipKeys,
        ['start_key', 'key', { notNull: true }],
        ['end_key', 'key', { notNull: true }],
        text('status'),
        ref('tenant'),
        bool('mark_utilized', false),
        text('description'),
        text('comments'),
      ]);
      index('ipam_ip_ranges', ['family', 'start_key']);
      table('ipam_ip_addresses', [
        text('address'),
        ...ipKeys,
        ['key', 'key', { notNull: true }],
        text('status'),
        text('role', false),
        ref('tenant'),
        text('assigned_object_type', false),
        ['assigned_object_id', 'bigint'],
        text('dns_name'),
        text('description'),
        text('comments'),
      ]);
      index('ipam_ip_addresses', ['family', 'key'], true);
      index('ipam_ip_addresses', ['assigned_object_type', 'assigned_object_id']);
      index('ipam_ip_addresses', ['tenant_id']);
      await runStatements(db, backend, statements);
    },
  };
}
