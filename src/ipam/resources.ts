import type { Kysely } from 'kysely';
import { InvalidError } from '../core/errors.js';
import {
  addressFromKey,
  addressKey,
  formatAddress,
  formatAddressWithMask,
  lastAddress,
  parseAddress,
  parseAddressWithMask,
  parsePrefix,
  prefixSize,
  type IpFamily,
  type IpPrefix,
} from '../core/net/index.js';
import type { Database } from '../store/schema.js';
import { flag, integers } from '../inventory/filters.js';
import { commonFields, type Choices, type CustomFilter, type DynamicDatabase, type FilterCondition, type Resource, type Row } from '../inventory/model.js';
import { markFree, markUsed, usedCount } from './runs.js';

/** NetBox's ipam objects: prefixes, IP ranges and IP addresses, IPv4 and IPv6, without VRFs. */

export const PREFIX_STATUS: Choices = { container: 'Container', active: 'Active', reserved: 'Reserved', deprecated: 'Deprecated' };
export const RANGE_STATUS: Choices = { active: 'Active', reserved: 'Reserved', deprecated: 'Deprecated' };
export const ADDRESS_STATUS: Choices = { active: 'Active', reserved: 'Reserved', deprecated: 'Deprecated', dhcp: 'DHCP', slaac: 'SLAAC' };
export const ADDRESS_ROLE: Choices = {
  loopback: 'Loopback',
  secondary: 'Secondary',
  anycast: 'Anycast',
  vip: 'VIP',
  vrrp: 'VRRP',
  hsrp: 'HSRP',
  glbp: 'GLBP',
  carp: 'CARP',
};

const FAMILY_LABEL = { 4: 'IPv4', 6: 'IPv6' } as const;
const family = (row: Row) => ({ value: Number(row.family), label: FAMILY_LABEL[Number(row.family) as IpFamily] });
const { description, comments, tenant } = commonFields;
const runsDb = (db: Kysely<DynamicDatabase>) => db as unknown as Kysely<Database>;

/** A prefix's stored bounds. */
export function prefixOfRow(row: Row): IpPrefix {
  return { network: addressFromKey(String(row.start_key)), length: Number(row.mask_length) };
}

function familyFilter(): CustomFilter {
  return {
    description: 'address family: 4 or 6',
    apply(values, name) {
      const families = values.map((v) => {
        if (v !== '4' && v !== '6') throw new InvalidError(`query.${name}: '${v}' is not 4 or 6`, `query.${name}`);
        return Number(v);
      });
      return [{ kind: 'in', column: 'family', values: families }];
    },
  };
}

/** Rows whose [start_key, end_key] lies inside (or, with `contains`, around) each given prefix or address. */
function boundsFilter(mode: 'within' | 'within_include' | 'contains', parse: 'prefix' | 'prefix-or-address'): CustomFilter {
  return {
    description: { within: 'inside this prefix', within_include: 'inside or equal to this prefix', contains: 'containing this prefix or address' }[mode],
    apply(values, name) {
      return [
        {
          kind: 'any',
          conditions: values.map((value): FilterCondition => {
            const prefix = parse === 'prefix' || value.includes('/') ? parsePrefix(value, `query.${name}`) : { network: parseAddress(value, `query.${name}`), length: value.includes(':') ? 128 : 32 };
            const start = addressKey(prefix.network);
            const end = addressKey(lastAddress(prefix));
            const same: FilterCondition = { kind: 'in', column: 'family', values: [prefix.network.family] };
            if (mode === 'contains') {
              return { kind: 'all', conditions: [same, { kind: 'compare', column: 'start_key', op: '<=', value: start }, { kind: 'compare', column: 'end_key', op: '>=', value: end }] };
            }
            const depth: FilterCondition = { kind: 'compare', column: 'mask_length', op: mode === 'within' ? '>' : '>=', value: prefix.length };
            return { kind: 'all', conditions: [same, { kind: 'compare', column: 'start_key', op: '>=', value: start }, { kind: 'compare', column: 'end_key', op: '<=', value: end }, depth] };
          }),
        },
      ];
    },
  };
}

function maskLengthFilter(op?: '>=' | '<='): CustomFilter {
  return {
    description: op ? `mask length ${op}` : 'mask length',
    apply(values, name) {
      const lengths = values.map((v) => {
        if (!/^\d{1,3}$/.test(v) || Number(v) > 128) throw new InvalidError(`query.${name}: '${v}' is not a mask length`, `query.${name}`);
        return Number(v);
      });
      return op ? [{ kind: 'compare', column: 'mask_length', op, value: lengths[0] }] : [{ kind: 'in', column: 'mask_length', values: lengths }];
    },
  };
}

/** NetBox's utilisation: 100 when marked utilised; a container by its child prefixes; else by used addresses. */
async function prefixUtilization(row: Row, db: Kysely<DynamicDatabase>): Promise<number> {
  if (row.mark_utilized) return 100;
  const prefix = prefixOfRow(row);
  const start = prefix.network.value;
  const end = lastAddress(prefix).value;
  let size = prefixSize(prefix);
  let used: bigint;
  if (row.status === 'container') {
    // Sum the outermost child prefixes.
    const children = await db
      .selectFrom('ipam_prefixes')
      .select(['start_key', 'end_key'])
      .where('family', '=', row.family)
      .where('start_key', '>=', row.start_key)
      .where('end_key', '<=', row.end_key)
      .where('mask_length', '>', row.mask_length)
      .orderBy('start_key')
      .orderBy('mask_length')
      .execute();
    used = 0n;
    let coveredTo = -1n;
    for (const child of children) {
      const childStart = addressFromKey(String(child.start_key)).value;
      const childEnd = addressFromKey(String(child.end_key)).value;
      if (childStart <= coveredTo) continue;
      used += childEnd - childStart + 1n;
      coveredTo = childEnd;
    }
  } else {
    used = await usedCount(runsDb(db), prefix.network.family, start, end);
    // IPv4 network and broadcast addresses are not usable, outside pools and /31, /32.
    if (prefix.network.family === 4 && prefix.length < 31 && !row.is_pool) size -= 2n;
  }
  return size > 0n ? Math.min(100, Number((used * 10000n) / size) / 100) : 0;
}

export const prefixResource: Resource = {
  objectType: 'ipam.prefix',
  path: 'ipam/prefixes',
  table: 'ipam_prefixes',
  label: 'prefix',
  fields: {
    prefix: { type: 'string', max: 64, required: true, search: true },
    status: { type: 'choice', choices: PREFIX_STATUS, default: 'active' },
    site: { type: 'ref', to: 'dcim.site' },
    tenant,
    is_pool: { type: 'boolean', default: false },
    mark_utilized: { type: 'boolean', default: false },
    description,
    comments,
  },
  derivedColumns: ['family', 'start_key', 'end_key', 'mask_length'],
  brief: ['prefix', 'description'],
  display: (row) => String(row.prefix),
  uniqueTogether: [['prefix']],
  tenancy: { kind: 'field' },
  ordering: ['family', 'start_key', 'mask_length'],
  filters: {
    family: familyFilter(),
    within: boundsFilter('within', 'prefix'),
    within_include: boundsFilter('within_include', 'prefix'),
    contains: boundsFilter('contains', 'prefix-or-address'),
    mask_length: maskLengthFilter(),
    mask_length__gte: maskLengthFilter('>='),
    mask_length__lte: maskLengthFilter('<='),
  },
  prepare(row, _context, _existing, path) {
    const prefix = parsePrefix(String(row.prefix), `${path}.prefix`);
    Object.assign(row, {
      prefix: `${formatAddress(prefix.network)}/${prefix.length}`,
      family: prefix.network.family,
      start_key: addressKey(prefix.network),
      end_key: addressKey(lastAddress(prefix)),
      mask_length: prefix.length,
    });
  },
  extra: async (row, context) => ({ family: family(row), utilization: await prefixUtilization(row, context.db) }),
};

export const ipRangeResource: Resource = {
  objectType: 'ipam.iprange',
  path: 'ipam/ip-ranges',
  table: 'ipam_ip_ranges',
  label: 'IP range',
  fields: {
    start_address: { type: 'string', max: 64, required: true, search: true },
    end_address: { type: 'string', max: 64, required: true, search: true },
    status: { type: 'choice', choices: RANGE_STATUS, default: 'active' },
    tenant,
    mark_utilized: { type: 'boolean', default: false },
    description,
    comments,
  },
  derivedColumns: ['family', 'start_key', 'end_key', 'mask_length'],
  brief: ['start_address', 'end_address', 'description'],
  display: (row) => `${row.start_address}-${String(row.end_address).split('/')[0]}`,
  tenancy: { kind: 'field' },
  ordering: ['family', 'start_key'],
  filters: {
    family: familyFilter(),
    contains: boundsFilter('contains', 'prefix-or-address'),
    parent: boundsFilter('within_include', 'prefix'),
  },
  prepare(row, _context, _existing, path) {
    const start = parseAddressWithMask(String(row.start_address), `${path}.start_address`);
    const end = parseAddressWithMask(String(row.end_address), `${path}.end_address`);
    if (start.address.family !== end.address.family) throw new InvalidError(`${path}.end_address: must be of the same family as start_address`, `${path}.end_address`);
    if (start.length !== end.length) throw new InvalidError(`${path}.end_address: must have the same mask as start_address`, `${path}.end_address`);
    if (end.address.value < start.address.value) throw new InvalidError(`${path}.end_address: must not come before start_address`, `${path}.end_address`);
    Object.assign(row, {
      start_address: formatAddressWithMask(start),
      end_address: formatAddressWithMask(end),
      family: start.address.family,
      start_key: addressKey(start.address),
      end_key: addressKey(end.address),
      // Ranges are filtered like prefixes (parent=, contains=): their mask length is that of their addresses.
      mask_length: start.length,
    });
  },
  extra: (row) => ({
    family: family(row),
    size: Number(addressFromKey(String(row.end_key)).value - addressFromKey(String(row.start_key)).value + 1n),
  }),
};

function assignedFilter(kind: 'interface_id' | 'interface' | 'device_id' | 'device'): CustomFilter {
  return {
    description: {
      interface_id: 'assigned to this interface id',
      interface: 'assigned to an interface of this name',
      device_id: 'assigned to an interface of this device id',
      device: 'assigned to an interface of this device name',
    }[kind],
    apply(values, name) {
      const ids = kind === 'device' || kind === 'interface' ? values : integers(values, name);
      const interfaceIds: FilterCondition =
        kind === 'interface_id'
          ? { kind: 'in', column: 'assigned_object_id', values: ids }
          : {
              kind: 'subquery',
              column: 'assigned_object_id',
              table: 'dcim_interfaces',
              select: 'id',
              conditions: [
                kind === 'interface'
                  ? { kind: 'in', column: 'name', values: ids }
                  : kind === 'device_id'
                  ? { kind: 'in', column: 'device_id', values: ids }
                  : { kind: 'subquery', column: 'device_id', table: 'dcim_devices', select: 'id', conditions: [{ kind: 'in', column: 'name', values: ids }] },
              ],
            };
      return [{ kind: 'in', column: 'assigned_object_type', values: ['dcim.interface'] }, interfaceIds];
    },
  };
}

export const ipAddressResource: Resource = {
  objectType: 'ipam.ipaddress',
  path: 'ipam/ip-addresses',
  table: 'ipam_ip_addresses',
  label: 'IP address',
  fields: {
    address: { type: 'string', max: 64, required: true, search: true },
    status: { type: 'choice', choices: ADDRESS_STATUS, default: 'active' },
    role: { type: 'choice', choices: ADDRESS_ROLE, nullable: true },
    tenant,
    // NetBox returns the content type as a plain string, not a {value, label} choice.
    assigned_object_type: { type: 'string', max: 50, nullable: true, pattern: '^dcim\\.interface$' },
    assigned_object_id: { type: 'integer', min: 1, nullable: true },
    dns_name: { type: 'string', max: 255, pattern: '^([0-9A-Za-z_-]+|\\*)(\\.[0-9A-Za-z_-]+)*\\.?$|^$', search: true },
    description,
    comments,
  },
  derivedColumns: ['family', 'key', 'mask_length'],
  // Writes change the used-address index, which allocations read under this lock.
  locks: ['ipam'],
  polymorphicRefs: [{ typeField: 'assigned_object_type', idField: 'assigned_object_id', types: ['dcim.interface'] }],
  brief: ['address', 'description'],
  briefExtra: (row) => ({ family: Number(row.family) }),
  display: (row) => String(row.address),
  tenancy: { kind: 'field' },
  ordering: ['family', 'key'],
  filters: {
    family: familyFilter(),
    parent: {
      description: 'inside this prefix',
      apply(values, name) {
        return [
          {
            kind: 'any',
            conditions: values.map((value): FilterCondition => {
              const prefix = parsePrefix(value, `query.${name}`);
              return {
                kind: 'all',
                conditions: [
                  { kind: 'in', column: 'family', values: [prefix.network.family] },
                  { kind: 'compare', column: 'key', op: '>=', value: addressKey(prefix.network) },
                  { kind: 'compare', column: 'key', op: '<=', value: addressKey(lastAddress(prefix)) },
                ],
              };
            }),
          },
        ];
      },
    },
    address: {
      description: 'this address, with or without a mask',
      apply(values, name) {
        const keys = values.map((v) => addressKey(v.includes('/') ? parseAddressWithMask(v, `query.${name}`).address : parseAddress(v, `query.${name}`)));
        return [{ kind: 'in', column: 'key', values: keys }];
      },
    },
    mask_length: maskLengthFilter(),
    interface_id: assignedFilter('interface_id'),
    interface: assignedFilter('interface'),
    device_id: assignedFilter('device_id'),
    device: assignedFilter('device'),
    assigned_to_interface: {
      description: 'true: assigned to an interface; false: not',
      apply(values, name) {
        return [{ kind: 'in', column: 'assigned_object_type', values: ['dcim.interface'], negate: !flag(values, name) }];
      },
    },
  },
  async prepare(row, context, existing, path) {
    const parsed = parseAddressWithMask(String(row.address), `${path}.address`);
    Object.assign(row, { address: formatAddressWithMask(parsed), family: parsed.address.family, key: addressKey(parsed.address), mask_length: parsed.length });
    const clash = await context.db
      .selectFrom('ipam_ip_addresses')
      .select(['id', 'address'])
      .where('family', '=', row.family)
      .where('key', '=', row.key)
      .where('id', '!=', existing?.id ?? 0)
      .executeTakeFirst();
    if (clash) throw new InvalidError(`${path}.address: ${formatAddress(parsed.address)} is already in use (IP address ${clash.id}, ${clash.address})`, `${path}.address`);
    const type = row.assigned_object_type ?? null;
    const id = row.assigned_object_id ?? null;
    if ((type === null) !== (id === null)) {
      throw new InvalidError(`${path}.assigned_object_id: give assigned_object_type and assigned_object_id together`, `${path}.assigned_object_id`);
    }
    if (type !== null) await context.reference('dcim.interface', id, `${path}.assigned_object_id`);
  },
  async afterWrite(row, existing, context) {
    if (existing && existing.key === row.key && existing.family === row.family) return;
    const db = runsDb(context.db);
    if (existing) await markFree(db, addressFromKey(String(existing.key)));
    await markUsed(db, addressFromKey(String(row.key)));
  },
  async afterDelete(row, context) {
    await markFree(runsDb(context.db), addressFromKey(String(row.key)));
  },
  extra: async (row, context) => ({
    family: family(row),
    assigned_object: row.assigned_object_type === 'dcim.interface' ? await context.brief('dcim.interface', row.assigned_object_id as number) : null,
  }),
};
