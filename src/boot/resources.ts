import { InvalidError } from '../core/errors.js';
import { formatAddress, parseAddress, parsePrefix, prefixContainsAddress } from '../core/net/index.js';
import { commonFields, type Choices, type Resource } from '../inventory/model.js';

/** The boot data: DHCP subnets, the image catalogue and the boot profiles that pin an image version. */

const { description } = commonFields;
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
    version: { type: 'string', max: 64, required: true, pattern: '^[A-Za-z0-9][A-Za-z0-9._+-]*$', search: true },
    kernel: { type: 'string', max: 1000, required: true },
    initrd: { type: 'string', max: 1000, required: true },
    rootfs: { type: 'string', max: 1000 },
    description,
  },
  brief: ['image', 'version'],
  display: (row) => String(row.version),
  uniqueTogether: [['image', 'version']],
  tenancy: { kind: 'shared' },
  ordering: ['image_id', 'version'],
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
    if (row.boot === 'image' && (row.image_version_id === null || row.image_version_id === undefined)) {
      throw new InvalidError(`${path}.image_version: a profile that boots an image needs an image version`, `${path}.image_version`);
    }
  },
};
