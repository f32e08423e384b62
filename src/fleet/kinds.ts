import { columnDefault, readColumn, type Field, type Resource } from '../inventory/model.js';
import type { ResourceRegistry } from '../inventory/registry.js';

/**
 * The kinds of the fleet repository: for each top-level list (`sites`, `devices`, ...) the resource it becomes, the
 * fields the repository owns, and how an object's natural key is formed. Plan, apply, drift and the published JSON
 * Schema are all derived from this one table, so the format, the diff and the docs cannot disagree.
 */

/** A repository value in API form: references by natural key, lists as arrays, booleans as booleans. */
export type FleetValue = string | number | boolean | null | readonly string[];

export interface KindSpec {
  /** Top-level list of the repository; also the kind's name in messages. */
  list: string;
  objectType: string;
  /** Resource fields the repository owns, by their repository name where `rename` gives one. */
  fields: readonly string[];
  /** Repository name for a resource field (`model` for a device's `device_type`). */
  rename?: Readonly<Record<string, string>>;
  /** Fields that form the natural key, joined by `keySeparator`; references contribute their target's key. */
  key: readonly string[];
  keySeparator?: string;
  /**
   * References written relative to a field of the same object: a device's `rack: r01` means the rack `r01` of the
   * device's site, whose key is `<site>/r01`.
   */
  scoped?: Readonly<Record<string, string>>;
  tags?: boolean;
  /** Where the kind sits in the repository when it is not a top-level list (interfaces belong to devices). */
  nested?: true;
}

export const KINDS: readonly KindSpec[] = [
  { list: 'tenants', objectType: 'tenancy.tenant', fields: ['slug', 'name', 'description', 'comments'], key: ['slug'], tags: true },
  { list: 'tags', objectType: 'extras.tag', fields: ['slug', 'name', 'color', 'description'], key: ['slug'] },
  { list: 'regions', objectType: 'dcim.region', fields: ['slug', 'name', 'parent', 'description'], key: ['slug'], tags: true },
  {
    list: 'sites',
    objectType: 'dcim.site',
    fields: ['slug', 'name', 'status', 'region', 'tenant', 'facility', 'time_zone', 'physical_address', 'description', 'comments'],
    key: ['slug'],
    tags: true,
  },
  {
    list: 'locations',
    objectType: 'dcim.location',
    fields: ['site', 'slug', 'name', 'parent', 'status', 'tenant', 'description'],
    key: ['site', 'slug'],
    scoped: { parent: 'site' },
    tags: true,
  },
  {
    list: 'racks',
    objectType: 'dcim.rack',
    fields: ['site', 'name', 'location', 'status', 'tenant', 'serial', 'asset_tag', 'u_height', 'description', 'comments'],
    key: ['site', 'name'],
    scoped: { location: 'site' },
    tags: true,
  },
  { list: 'manufacturers', objectType: 'dcim.manufacturer', fields: ['slug', 'name', 'description'], key: ['slug'], tags: true },
  {
    list: 'models',
    objectType: 'dcim.devicetype',
    fields: ['slug', 'manufacturer', 'model', 'part_number', 'u_height', 'is_full_depth', 'description', 'comments'],
    key: ['slug'],
    tags: true,
  },
  { list: 'roles', objectType: 'dcim.devicerole', fields: ['slug', 'name', 'color', 'description'], key: ['slug'], tags: true },
  { list: 'platforms', objectType: 'dcim.platform', fields: ['slug', 'name', 'manufacturer', 'description'], key: ['slug'], tags: true },
  { list: 'images', objectType: 'boot.image', fields: ['name', 'description'], key: ['name'] },
  {
    list: 'versions',
    objectType: 'boot.imageversion',
    fields: ['image', 'version', 'kernel', 'initrd', 'rootfs', 'description'],
    key: ['image', 'version'],
    keySeparator: '@',
    nested: true,
  },
  { list: 'mirrors', objectType: 'boot.mirror', fields: ['name', 'site', 'base_url', 'weight', 'enabled', 'description'], key: ['name'] },
  {
    list: 'profiles',
    objectType: 'boot.profile',
    fields: ['name', 'boot', 'image', 'kernel_args', 'playbooks', 'discovery', 'description'],
    rename: { image_version: 'image' },
    key: ['name'],
  },
  {
    list: 'devices',
    objectType: 'dcim.device',
    fields: ['name', 'site', 'model', 'role', 'tenant', 'platform', 'location', 'rack', 'position', 'face', 'status', 'serial', 'asset_tag', 'profile', 'description', 'comments', 'primary_ip4'],
    rename: { device_type: 'model', boot_profile: 'profile' },
    key: ['name'],
    scoped: { rack: 'site', location: 'site' },
    tags: true,
  },
  {
    list: 'interfaces',
    objectType: 'dcim.interface',
    fields: ['device', 'name', 'type', 'enabled', 'mtu', 'mac', 'mgmt_only', 'description'],
    rename: { mac_address: 'mac' },
    key: ['device', 'name'],
    tags: true,
    nested: true,
  },
  { list: 'prefixes', objectType: 'ipam.prefix', fields: ['prefix', 'status', 'site', 'tenant', 'is_pool', 'mark_utilized', 'description', 'comments'], key: ['prefix'], tags: true },
  {
    list: 'ranges',
    objectType: 'ipam.iprange',
    fields: ['start', 'end', 'status', 'tenant', 'description', 'comments'],
    rename: { start_address: 'start', end_address: 'end' },
    key: ['start', 'end'],
    keySeparator: '-',
    tags: true,
  },
  {
    list: 'addresses',
    objectType: 'ipam.ipaddress',
    fields: ['address', 'status', 'role', 'tenant', 'interface', 'dns_name', 'description'],
    rename: { assigned_object_id: 'interface' },
    key: ['address'],
    tags: true,
  },
  {
    list: 'boot_subnets',
    objectType: 'boot.subnet',
    fields: ['name', 'site', 'prefix', 'mode', 'pools', 'router', 'dns_servers', 'domain_name', 'lease_time', 'next_server', 'boot_server', 'description'],
    key: ['name'],
  },
  { list: 'reactors', objectType: 'extras.reactor', fields: ['name', 'event', 'subject', 'job', 'enabled', 'cooldown', 'description'], key: ['name'] },
];

/** A kind together with the resource declaration it maps to, and lookups both ways between the two namings. */
export class Kind {
  readonly resource: Resource;
  /** Repository name to resource field name. */
  readonly toResource: ReadonlyMap<string, string>;

  constructor(
    readonly spec: KindSpec,
    registry: ResourceRegistry,
  ) {
    this.resource = registry.get(spec.objectType);
    const toResource = new Map<string, string>();
    for (const name of spec.fields) toResource.set(name, name);
    for (const [resourceName, repoName] of Object.entries(spec.rename ?? {})) toResource.set(repoName, resourceName);
    for (const [repoName, resourceName] of toResource) {
      if (!this.resource.fields[resourceName] && !this.isInterfaceLink(repoName)) throw new Error(`fleet kind ${spec.list}: ${resourceName} is not a field of ${spec.objectType}`);
    }
    this.toResource = toResource;
  }

  get list(): string {
    return this.spec.list;
  }

  /** An IP address's `interface` is the polymorphic assigned object, always an interface in the repository. */
  isInterfaceLink(repoName: string): boolean {
    return this.spec.objectType === 'ipam.ipaddress' && repoName === 'interface';
  }

  field(repoName: string): Field {
    if (this.isInterfaceLink(repoName)) return { type: 'ref', to: 'dcim.interface' };
    const field = this.resource.fields[this.toResource.get(repoName) ?? repoName];
    if (!field) throw new Error(`fleet kind ${this.list}: unknown field ${repoName}`);
    return field;
  }

  /** The natural key of an object in repository form (references already given as their targets' keys). */
  keyOf(values: Readonly<Record<string, FleetValue | undefined>>): string {
    return this.spec.key.map((name) => String(values[name] ?? '')).join(this.spec.keySeparator ?? '/');
  }

  /** The value a field has when the repository leaves it out, in repository form. */
  defaultValue(repoName: string): FleetValue {
    const field = this.field(repoName);
    return field.type === 'ref' ? null : readColumn(field, columnDefault(field));
  }
}

export function kindsOf(registry: ResourceRegistry): Kind[] {
  return KINDS.map((spec) => new Kind(spec, registry));
}
