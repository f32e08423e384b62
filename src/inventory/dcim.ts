import { InvalidError } from '../core/errors.js';
import { normalizeMac } from '../core/net/index.js';
import { sql } from 'kysely';
import { flag } from './filters.js';
import { commonFields, type Choices, type CustomFilter, type FilterCondition, type Resource, type SerializeContext } from './model.js';

/** NetBox's dcim objects: sites, locations, racks, hardware models, roles, platforms, devices and interfaces. */

export const SITE_STATUS: Choices = {
  planned: 'Planned',
  staging: 'Staging',
  active: 'Active',
  decommissioning: 'Decommissioning',
  retired: 'Retired',
};

export const RACK_STATUS: Choices = {
  reserved: 'Reserved',
  available: 'Available',
  planned: 'Planned',
  active: 'Active',
  deprecated: 'Deprecated',
};

export const DEVICE_STATUS: Choices = {
  offline: 'Offline',
  active: 'Active',
  planned: 'Planned',
  staged: 'Staged',
  failed: 'Failed',
  inventory: 'Inventory',
  decommissioning: 'Decommissioning',
};

export const DEVICE_FACE: Choices = { front: 'Front', rear: 'Rear' };

/** The interface types of NetBox's InterfaceTypeChoices that bare-metal servers and their switches use. */
export const INTERFACE_TYPE: Choices = {
  virtual: 'Virtual',
  bridge: 'Bridge',
  lag: 'Link Aggregation Group (LAG)',
  '100base-tx': '100BASE-TX (10/100ME)',
  '1000base-t': '1000BASE-T (1GE)',
  '2.5gbase-t': '2.5GBASE-T (2.5GE)',
  '5gbase-t': '5GBASE-T (5GE)',
  '10gbase-t': '10GBASE-T (10GE)',
  '10gbase-cx4': '10GBASE-CX4 (10GE)',
  '1000base-x-gbic': 'GBIC (1GE)',
  '1000base-x-sfp': 'SFP (1GE)',
  '10gbase-x-sfpp': 'SFP+ (10GE)',
  '10gbase-x-xfp': 'XFP (10GE)',
  '25gbase-x-sfp28': 'SFP28 (25GE)',
  '40gbase-x-qsfpp': 'QSFP+ (40GE)',
  '50gbase-x-sfp56': 'SFP56 (50GE)',
  '50gbase-x-sfp28': 'QSFP28 (50GE)',
  '100gbase-x-cfp': 'CFP (100GE)',
  '100gbase-x-qsfp28': 'QSFP28 (100GE)',
  '100gbase-x-qsfpdd': 'QSFP-DD (100GE)',
  '200gbase-x-qsfp56': 'QSFP56 (200GE)',
  '200gbase-x-qsfpdd': 'QSFP-DD (200GE)',
  '400gbase-x-qsfpdd': 'QSFP-DD (400GE)',
  '400gbase-x-osfp': 'OSFP (400GE)',
  '800gbase-x-qsfpdd': 'QSFP-DD (800GE)',
  '800gbase-x-osfp': 'OSFP (800GE)',
  'ieee802.11a': 'IEEE 802.11a',
  'ieee802.11g': 'IEEE 802.11b/g',
  'ieee802.11n': 'IEEE 802.11n',
  'ieee802.11ac': 'IEEE 802.11ac',
  'ieee802.11ax': 'IEEE 802.11ax',
  infiniband: 'InfiniBand',
  'infiniband-sdr': 'SDR (2 Gbps)',
  'infiniband-ddr': 'DDR (4 Gbps)',
  'infiniband-qdr': 'QDR (8 Gbps)',
  'infiniband-fdr': 'FDR (13.5 Gbps)',
  'infiniband-edr': 'EDR (25 Gbps)',
  'infiniband-hdr': 'HDR (50 Gbps)',
  'infiniband-ndr': 'NDR (100 Gbps)',
  other: 'Other',
};

const { name, slug, description, comments, tenant } = commonFields;

/** Regions and site groups: shared trees of names that sites belong to. */
function siteGrouping(objectType: string, path: string, table: string, label: string): Resource {
  return {
    objectType,
    path,
    table,
    label,
    fields: { name: { ...name, unique: true }, slug, parent: { type: 'ref', to: objectType }, description },
    brief: ['name', 'slug', 'description'],
    display: (row) => String(row.name),
    tenancy: { kind: 'shared' },
    ordering: ['name'],
  };
}

export const region = siteGrouping('dcim.region', 'dcim/regions', 'dcim_regions', 'region');
export const siteGroup = siteGrouping('dcim.sitegroup', 'dcim/site-groups', 'dcim_site_groups', 'site group');

export const site: Resource = {
  objectType: 'dcim.site',
  path: 'dcim/sites',
  table: 'dcim_sites',
  label: 'site',
  fields: {
    name: { ...name, unique: true },
    slug,
    status: { type: 'choice', choices: SITE_STATUS, default: 'active' },
    region: { type: 'ref', to: 'dcim.region' },
    group: { type: 'ref', to: 'dcim.sitegroup' },
    tenant,
    facility: { type: 'string', max: 50, search: true },
    time_zone: { type: 'string', max: 63, nullable: true },
    physical_address: { type: 'string', max: 200, search: true },
    description,
    comments,
  },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'field' },
  ordering: ['name'],
  extra: async (row, context) => ({ prefix_count: await countOf(context, 'ipam_prefixes', 'site_id', row.id) }),
};

export const location: Resource = {
  objectType: 'dcim.location',
  path: 'dcim/locations',
  table: 'dcim_locations',
  label: 'location',
  fields: {
    name,
    slug,
    site: { type: 'ref', to: 'dcim.site', required: true },
    parent: { type: 'ref', to: 'dcim.location' },
    status: { type: 'choice', choices: SITE_STATUS, default: 'active' },
    tenant,
    description,
  },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  uniqueTogether: [['site', 'name']],
  tenancy: { kind: 'field' },
  ordering: ['site_id', 'name'],
};

export const rack: Resource = {
  objectType: 'dcim.rack',
  path: 'dcim/racks',
  table: 'dcim_racks',
  label: 'rack',
  fields: {
    name,
    site: { type: 'ref', to: 'dcim.site', required: true },
    location: { type: 'ref', to: 'dcim.location' },
    status: { type: 'choice', choices: RACK_STATUS, default: 'active' },
    tenant,
    serial: { type: 'string', max: 50, search: true },
    asset_tag: { type: 'string', max: 50, nullable: true, unique: true, search: true },
    u_height: { type: 'integer', min: 1, max: 100, default: 42 },
    description,
    comments,
  },
  brief: ['name', 'description'],
  display: (row) => String(row.name),
  uniqueTogether: [['location', 'name']],
  tenancy: { kind: 'field' },
  ordering: ['site_id', 'name'],
};

export const manufacturer: Resource = {
  objectType: 'dcim.manufacturer',
  path: 'dcim/manufacturers',
  table: 'dcim_manufacturers',
  label: 'manufacturer',
  fields: { name: { ...name, unique: true }, slug, description },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};

export const deviceType: Resource = {
  objectType: 'dcim.devicetype',
  path: 'dcim/device-types',
  table: 'dcim_device_types',
  label: 'device type',
  fields: {
    manufacturer: { type: 'ref', to: 'dcim.manufacturer', required: true },
    model: { type: 'string', max: 100, required: true, search: true },
    slug,
    part_number: { type: 'string', max: 50, search: true },
    u_height: { type: 'decimal', min: 0, max: 100, default: 1 },
    is_full_depth: { type: 'boolean', default: true },
    description,
    comments,
  },
  brief: ['manufacturer', 'model', 'slug', 'description'],
  display: (row) => String(row.model),
  uniqueTogether: [['manufacturer', 'model']],
  tenancy: { kind: 'shared' },
  ordering: ['manufacturer_id', 'model'],
};

export const deviceRole: Resource = {
  objectType: 'dcim.devicerole',
  path: 'dcim/device-roles',
  table: 'dcim_device_roles',
  label: 'device role',
  fields: {
    name: { ...name, unique: true },
    slug,
    color: { type: 'color' },
    vm_role: { type: 'boolean', default: true },
    description,
  },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};

export const platform: Resource = {
  objectType: 'dcim.platform',
  path: 'dcim/platforms',
  table: 'dcim_platforms',
  label: 'platform',
  fields: {
    name: { ...name, unique: true },
    slug,
    manufacturer: { type: 'ref', to: 'dcim.manufacturer' },
    description,
  },
  brief: ['name', 'slug', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};

function macFilter(column: string, table: string, via: 'self' | 'device'): CustomFilter {
  return {
    description: 'MAC address (any common notation)',
    apply(values, filter) {
      const macs = values.map((value) => normalizeMac(value, `query.${filter}`));
      const negate = filter.endsWith('__n');
      return via === 'self'
        ? [{ kind: 'in', column, values: macs, negate }]
        : [{ kind: 'subquery', column: 'id', table, select: 'device_id', conditions: [{ kind: 'in', column, values: macs }], negate }];
    },
  };
}

export const device: Resource = {
  objectType: 'dcim.device',
  path: 'dcim/devices',
  table: 'dcim_devices',
  label: 'device',
  fields: {
    name: { type: 'string', max: 64, nullable: true, search: true },
    device_type: { type: 'ref', to: 'dcim.devicetype', required: true },
    role: { type: 'ref', to: 'dcim.devicerole', required: true },
    tenant,
    platform: { type: 'ref', to: 'dcim.platform' },
    serial: { type: 'string', max: 50, search: true },
    asset_tag: { type: 'string', max: 50, nullable: true, unique: true, search: true },
    site: { type: 'ref', to: 'dcim.site', required: true },
    location: { type: 'ref', to: 'dcim.location' },
    rack: { type: 'ref', to: 'dcim.rack' },
    position: { type: 'decimal', min: 0.5, max: 100, nullable: true },
    face: { type: 'choice', choices: DEVICE_FACE, nullable: true },
    status: { type: 'choice', choices: DEVICE_STATUS, default: 'active' },
    primary_ip4: { type: 'ref', to: 'ipam.ipaddress', onDelete: 'null' },
    primary_ip6: { type: 'ref', to: 'ipam.ipaddress', onDelete: 'null' },
    install_date: { type: 'date' },
    boot_profile: { type: 'ref', to: 'boot.profile' },
    description,
    comments,
  },
  brief: ['name', 'description'],
  display: (row) => (row.name ? String(row.name) : `Unnamed device (${row.id})`),
  uniqueTogether: [['site', 'tenant', 'name']],
  tenancy: { kind: 'field' },
  ordering: ['name', 'id'],
  filters: {
    mac_address: macFilter('mac_address', 'dcim_interfaces', 'device'),
    mac_address__n: macFilter('mac_address', 'dcim_interfaces', 'device'),
    has_primary_ip: {
      description: 'true: has a primary IPv4 or IPv6 address',
      apply(values, filter) {
        const has: FilterCondition = { kind: 'any', conditions: [{ kind: 'null', column: 'primary_ip4_id', negate: true }, { kind: 'null', column: 'primary_ip6_id', negate: true }] };
        return flag(values, filter) ? [has] : [{ kind: 'null', column: 'primary_ip4_id' }, { kind: 'null', column: 'primary_ip6_id' }];
      },
    },
  },
  async prepare(row, context, existing, path) {
    if (row.face && (row.position === null || row.position === undefined)) {
      throw new InvalidError(`${path}.face: a face needs a rack position`, `${path}.face`);
    }
    // As in NetBox, a primary IP must be of its family and assigned to one of this device's interfaces.
    for (const [name, family] of [['primary_ip4', 4], ['primary_ip6', 6]] as const) {
      const ipId = row[`${name}_id`];
      if (ipId === null || ipId === undefined) continue;
      const ip = await context.db
        .selectFrom('ipam_ip_addresses')
        .leftJoin('dcim_interfaces', 'dcim_interfaces.id', 'ipam_ip_addresses.assigned_object_id')
        .select(['ipam_ip_addresses.address as address', 'ipam_ip_addresses.family as family', 'ipam_ip_addresses.assigned_object_type as type', 'dcim_interfaces.device_id as device_id'])
        .where('ipam_ip_addresses.id', '=', ipId)
        .executeTakeFirstOrThrow();
      if (Number(ip.family) !== family) throw new InvalidError(`${path}.${name}: ${String(ip.address)} is not an IPv${family} address`, `${path}.${name}`);
      if (ip.type !== 'dcim.interface' || existing === null || Number(ip.device_id) !== Number(existing.id)) {
        throw new InvalidError(`${path}.${name}: ${String(ip.address)} is not assigned to an interface of this device`, `${path}.${name}`);
      }
    }
  },
  extra: async (row, context) => ({
    device_role: await context.brief('dcim.devicerole', row.role_id as number),
    // NetBox's default (PREFER_IPV4 off): the IPv6 primary when there is one. Ansible's ansible_host comes from it.
    primary_ip: await context.brief('ipam.ipaddress', (row.primary_ip6_id ?? row.primary_ip4_id) as number | null),
  }),
};

export const deviceInterface: Resource = {
  objectType: 'dcim.interface',
  path: 'dcim/interfaces',
  table: 'dcim_interfaces',
  label: 'interface',
  fields: {
    device: { type: 'ref', to: 'dcim.device', required: true, onDelete: 'cascade' },
    name: { ...name, max: 64 },
    type: { type: 'choice', choices: INTERFACE_TYPE, default: '1000base-t' },
    enabled: { type: 'boolean', default: true },
    mtu: { type: 'integer', min: 1, max: 65536, nullable: true },
    mac_address: { type: 'mac', search: true },
    mgmt_only: { type: 'boolean', default: false },
    description,
  },
  brief: ['device', 'name', 'description'],
  display: (row) => String(row.name),
  uniqueTogether: [['device', 'name']],
  tenancy: { kind: 'parent', field: 'device' },
  ordering: ['device_id', 'name'],
  filters: {
    mac_address: macFilter('mac_address', 'dcim_interfaces', 'self'),
    mac_address__n: macFilter('mac_address', 'dcim_interfaces', 'self'),
  },
  extra: async (row, context) => ({
    count_ipaddresses: await countOf(context, 'ipam_ip_addresses', 'assigned_object_id', row.id, { assigned_object_type: 'dcim.interface' }),
  }),
};

async function countOf(context: SerializeContext, table: string, column: string, id: unknown, also: Record<string, unknown> = {}): Promise<number> {
  let query = context.db.selectFrom(table).select(sql<number>`count(*)`.as('count')).where(column, '=', id);
  for (const [key, value] of Object.entries(also)) query = query.where(key, '=', value);
  return Number((await query.executeTakeFirstOrThrow()).count);
}
