import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { keyColumnType, withAutoId } from './columns.js';

type Column = [name: string, type: 'text' | 'integer' | 'bigint' | 'real' | 'key', options?: { notNull?: boolean; default?: string | number }];

/** The NetBox-shaped inventory and IPAM tables (inventory/dcim.ts, inventory/tenancy.ts, ipam/resources.ts). */
export function inventory(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // Objects carry timestamps and (unless they are tags) custom fields; link tables carry neither.
      const table = async (name: string, columns: Column[], kind: 'object' | 'tag' | 'link' = 'object') => {
        let builder = withAutoId(db.schema.createTable(name), backend);
        const all: Column[] = [
          ...columns,
          ...(kind === 'link' ? [] : ([['created', 'text', { notNull: true }], ['last_updated', 'text', { notNull: true }]] as Column[])),
          ...(kind === 'object' ? ([['custom_fields', 'text', { notNull: true, default: '{}' }]] as Column[]) : []),
        ];
        for (const [column, type, opts = {}] of all) {
          builder = builder.addColumn(column, type === 'key' ? keyColumnType(backend) : type, (c: ColumnDefinitionBuilder) => {
            let out = c;
            if (opts.notNull) out = out.notNull();
            if (opts.default !== undefined) out = out.defaultTo(opts.default);
            return out;
          });
        }
        await builder.execute();
      };
      const index = async (table: string, columns: string[], unique = false) => {
        let builder = db.schema.createIndex(`${table}_${columns.join('_')}`).on(table).columns(columns);
        if (unique) builder = builder.unique();
        await builder.execute();
      };
      const text = (name: string, notNull = true): Column => [name, 'text', notNull ? { notNull: true, default: '' } : {}];
      const ref = (name: string): Column => [`${name}_id`, 'bigint'];
      const bool = (name: string, value: boolean): Column => [name, 'integer', { notNull: true, default: value ? 1 : 0 }];
      const named = [text('name'), text('slug'), text('description')];

      await table('tenancy_tenants', [...named, text('comments')]);
      await index('tenancy_tenants', ['slug'], true);
      await table('extras_tags', [...named, text('color')], 'tag');
      await index('extras_tags', ['slug'], true);
      await table('extras_tagged_items', [['object_type', 'text', { notNull: true }], ['object_id', 'bigint', { notNull: true }], ['tag_id', 'bigint', { notNull: true }]], 'link');
      await index('extras_tagged_items', ['object_type', 'object_id', 'tag_id'], true);
      // tag= filters: all objects of a type with a tag, answered from the index alone.
      await index('extras_tagged_items', ['object_type', 'tag_id', 'object_id']);

      await table('dcim_regions', [...named, ref('parent')]);
      await index('dcim_regions', ['slug'], true);
      await table('dcim_site_groups', [...named, ref('parent')]);
      await index('dcim_site_groups', ['slug'], true);
      await table('dcim_sites', [...named, text('status'), ref('region'), ref('group'), ref('tenant'), text('facility'), text('time_zone', false), text('physical_address'), text('comments')]);
      await index('dcim_sites', ['slug'], true);
      await index('dcim_sites', ['tenant_id']);
      await table('dcim_locations', [...named, ref('site'), ref('parent'), text('status'), ref('tenant')]);
      await index('dcim_locations', ['site_id', 'name']);
      await table('dcim_racks', [text('name'), ref('site'), ref('location'), text('status'), ref('tenant'), text('serial'), text('asset_tag', false), ['u_height', 'integer'], text('description'), text('comments')]);
      await index('dcim_racks', ['site_id', 'name']);
      await table('dcim_manufacturers', named);
      await index('dcim_manufacturers', ['slug'], true);
      await table('dcim_device_types', [ref('manufacturer'), text('model'), text('slug'), text('part_number'), ['u_height', 'real'], bool('is_full_depth', true), text('description'), text('comments')]);
      await index('dcim_device_types', ['slug'], true);
      await table('dcim_device_roles', [...named, text('color'), bool('vm_role', true)]);
      await index('dcim_device_roles', ['slug'], true);
      await table('dcim_platforms', [...named, ref('manufacturer')]);
      await index('dcim_platforms', ['slug'], true);
      await table('dcim_devices', [
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
        await index('dcim_devices', columns);
      }
      await table('dcim_interfaces', [ref('device'), text('name'), text('type'), bool('enabled', true), ['mtu', 'integer'], text('mac_address', false), bool('mgmt_only', false), text('description')]);
      await index('dcim_interfaces', ['device_id', 'name'], true);
      await index('dcim_interfaces', ['mac_address']);

      const ipKeys: Column[] = [['family', 'integer', { notNull: true }], ['mask_length', 'integer', { notNull: true }]];
      await table('ipam_prefixes', [
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
      await index('ipam_prefixes', ['family', 'start_key', 'end_key']);
      await index('ipam_prefixes', ['tenant_id']);
      await table('ipam_ip_ranges', [
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
      await index('ipam_ip_ranges', ['family', 'start_key']);
      await table('ipam_ip_addresses', [
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
      await index('ipam_ip_addresses', ['family', 'key'], true);
      await index('ipam_ip_addresses', ['assigned_object_type', 'assigned_object_id']);
      await index('ipam_ip_addresses', ['tenant_id']);
    },
  };
}
