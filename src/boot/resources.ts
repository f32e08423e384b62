import { ConflictError, InvalidError } from '../core/errors.js';
import { formatAddress, parseAddress, parsePrefix, prefixContainsAddress } from '../core/net/index.js';
import { checkKernelArgs } from './http/ipxe-script.js';
import { commonFields, type Choices, type Field, type Resource } from '../inventory/model.js';

/** The boot data: DHCP subnets, the image catalogue and the boot profiles that pin an image version. */

const { description } = commonFields;

/**
 * One path segment: versions and file names. Image files live flat in DATA/images/IMAGE/VERSION/ and are served
 * under that path.
 */
export const PATH_SEGMENT = '^[A-Za-z0-9][A-Za-z0-9._+-]*$';

/** The files of an image version; `rootfs` (a live-boot squashfs) is optional. */
export const IMAGE_FILE_ROLES = ['kernel', 'initrd', 'rootfs'] as const;
export type ImageFileRole = (typeof IMAGE_FILE_ROLES)[number];

/** `<role>_size` and `<role>_sha256`: set when the file is registered (boot/images/catalogue.ts), never by clients. */
function registeredFileFields(): Record<string, Field> {
  const fields: Record<string, Field> = {};
  for (const role of IMAGE_FILE_ROLES) {
    fields[`${role}_size`] = { type: 'integer', nullable: true, readOnly: true };
    fields[`${role}_sha256`] = { type: 'string', max: 64, readOnly: true };
  }
  return fields;
}
const uniqueName = { type: 'string', max: 100, required: true, search: true, unique: true } as const;

export const SUBNET_MODE: Choices = { serve: 'Serve addresses and boot information', proxy: 'ProxyDHCP: boot information only' };
export const PROFILE_BOOT: Choices = { image: 'Boot the profile image', local: 'Boot the local disk' };

export const bootSubnet: Resource = {
  objectType: 'boot.subnet',
  path: 'boot/subnets',
  table: 'boot_subnets',
  label: 'boot subnet',
  fields: {
    name: uniqueName,
    site: { type: 'ref', to: 'dcim.site' },
    prefix: { type: 'string', max: 18, required: true, search: true },
    mode: { type: 'choice', choices: SUBNET_MODE, default: 'serve' },
    pools: { type: 'list', item: 'ipv4-range', max: 64 },
    router: { type: 'ipv4', nullable: true },
    dns_servers: { type: 'list', item: 'ipv4', max: 8 },
    domain_name: { type: 'string', max: 253 },
    lease_time: { type: 'integer', min: 60, max: 31_536_000, default: 3600 },
    next_server: { type: 'ipv4', nullable: true },
    boot_server: { type: 'string', max: 255, pattern: '^$|^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' },
    description,
  },
  brief: ['name', 'prefix', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
  prepare(row, _context, _existing, path) {
    const prefix = parsePrefix(String(row.prefix), `${path}.prefix`);
    if (prefix.network.family !== 4) throw new InvalidError(`${path}.prefix: DHCP serves IPv4 prefixes only`, `${path}.prefix`);
    row.prefix = `${formatAddress(prefix.network)}/${prefix.length}`;
    const inside = (address: string, at: string) => {
      if (!prefixContainsAddress(prefix, parseAddress(address))) throw new InvalidError(`${at}: ${address} is outside ${row.prefix}`, at);
    };
    (JSON.parse(String(row.pools)) as string[]).forEach((pool, index) => {
      for (const end of pool.split('-')) inside(end, `${path}.pools.${index}`);
    });
    if (row.router) inside(String(row.router), `${path}.router`);
  },
};

export const bootImage: Resource = {
  objectType: 'boot.image',
  path: 'boot/images',
  table: 'boot_images',
  label: 'image',
  fields: { name: { ...uniqueName, pattern: '^[a-z0-9][a-z0-9._-]*$' }, description },
  brief: ['name', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
};

export const bootImageVersion: Resource = {
  objectType: 'boot.imageversion',
  path: 'boot/image-versions',
  table: 'boot_image_versions',
  label: 'image version',
  fields: {
    image: { type: 'ref', to: 'boot.image', required: true, onDelete: 'cascade' },
    version: { type: 'string', max: 64, required: true, pattern: PATH_SEGMENT, search: true },
    kernel: { type: 'string', max: 255, required: true, pattern: PATH_SEGMENT },
    initrd: { type: 'string', max: 255, required: true, pattern: PATH_SEGMENT },
    rootfs: { type: 'string', max: 255, pattern: `^$|${PATH_SEGMENT}` },
    ...registeredFileFields(),
    description,
  },
  brief: ['image', 'version'],
  display: (row) => String(row.version),
  uniqueTogether: [['image', 'version']],
  tenancy: { kind: 'shared' },
  ordering: ['image_id', 'version'],
  prepare(row, _context, existing, path) {
    // Machines and mirrors cache a registered file by its checksum: its content and name are fixed for good.
    for (const role of IMAGE_FILE_ROLES) {
      if (existing && existing[`${role}_size`] != null && row[role] !== existing[role]) {
        throw new ConflictError(
          `${path}.${role}: the ${role} of this version is registered (sha256 ${String(existing[`${role}_sha256`])}); a registered file cannot be renamed, create a new version instead`,
        );
      }
    }
  },
};

export const bootMirror: Resource = {
  objectType: 'boot.mirror',
  path: 'boot/mirrors',
  table: 'boot_mirrors',
  label: 'image mirror',
  fields: {
    name: uniqueName,
    site: { type: 'ref', to: 'dcim.site', required: true, onDelete: 'cascade' },
    // The base URL: the mirror serves `<url>/boot/images/IMAGE/VERSION/FILE`, as a Hangar boot service does.
    base_url: { type: 'string', max: 500, required: true, pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' },
    weight: { type: 'integer', min: 1, max: 10_000, default: 100 },
    enabled: { type: 'boolean', default: true },
    description,
  },
  brief: ['name', 'base_url'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
  prepare(row) {
    row.base_url = String(row.base_url).replace(/\/+$/, '');
  },
};

export const bootProfile: Resource = {
  objectType: 'boot.profile',
  path: 'boot/profiles',
  table: 'boot_profiles',
  label: 'boot profile',
  fields: {
    name: uniqueName,
    boot: { type: 'choice', choices: PROFILE_BOOT, default: 'image' },
    image_version: { type: 'ref', to: 'boot.imageversion' },
    kernel_args: { type: 'string', max: 2000 },
    playbooks: { type: 'list', item: 'text', max: 50 },
    discovery: { type: 'boolean', default: false },
    description,
  },
  brief: ['name', 'description'],
  display: (row) => String(row.name),
  tenancy: { kind: 'shared' },
  ordering: ['name'],
  prepare(row, _context, _existing, path) {
    // Refused here rather than when a machine boots and gets no script.
    checkKernelArgs(String(row.kernel_args ?? ''), `${path}.kernel_args`);
    if (row.boot === 'image' && (row.image_version_id === null || row.image_version_id === undefined)) {
      throw new InvalidError(`${path}.image_version: a profile that boots an image needs an image version`, `${path}.image_version`);
    }
  },
};
