/**
 * What a machine boots, from the inventory: its device's profile, or the discovery profile for unknown MACs; and
 * the image mirrors of its site (its device's site, or for an unknown machine the site of the boot subnet it
 * asks from) in the machine's own rendezvous order.
 */

import type { Kysely } from 'kysely';
import { parseAddress, parsePrefix, prefixContainsAddress } from '../../core/net/index.js';
import { orderMirrors } from './mirrors.js';

export interface BootTarget {
  /** The device whose interface has the MAC; null for an unknown machine. */
  device: { id: number; name: string } | null;
  /** null when the machine has no profile and there is no discovery profile. */
  profile: BootProfileTarget | null;
  /** Base URLs of the site's enabled mirrors in the order this machine tries them; empty when the site has none. */
  mirrors: string[];
}

export interface BootProfileTarget {
  name: string;
  boot: 'image' | 'local';
  kernelArgs: string;
  /** The pinned image version; null for local boot. */
  image: { name: string; version: string; kernel: string; initrd: string; rootfs: string | null } | null;
}

interface BootTables {
  dcim_interfaces: { id: number; device_id: number | null; mac_address: string | null };
  dcim_devices: { id: number; name: string | null; boot_profile_id: number | null; site_id: number | null };
  boot_subnets: { prefix: string; site_id: number | null };
  boot_mirrors: { name: string; site_id: number; base_url: string; weight: number; enabled: number };
  boot_profiles: { id: number; name: string; boot: string; kernel_args: string; image_version_id: number | null; discovery: number };
  boot_image_versions: { id: number; image_id: number; version: string; kernel: string; initrd: string; rootfs: string };
  boot_images: { id: number; name: string };
}

/** `mac` in the inventory's spelling, AA:BB:CC:DD:EE:FF; `client` the address the machine asks from. */
export async function bootTargetFor(database: Kysely<unknown>, mac: string, client: string): Promise<BootTarget> {
  const db = database as Kysely<BootTables>;
  const device = await db
    .selectFrom('dcim_interfaces as i')
    .innerJoin('dcim_devices as d', 'd.id', 'i.device_id')
    .select(['d.id as id', 'd.name as name', 'd.boot_profile_id as profileId', 'd.site_id as siteId'])
    .where('i.mac_address', '=', mac)
    .orderBy('d.id')
    .executeTakeFirst();
  const profiles = db
    .selectFrom('boot_profiles as p')
    .leftJoin('boot_image_versions as v', 'v.id', 'p.image_version_id')
    .leftJoin('boot_images as m', 'm.id', 'v.image_id')
    .select(['p.name as name', 'p.boot as boot', 'p.kernel_args as kernelArgs', 'm.name as image', 'v.version as version', 'v.kernel as kernel', 'v.initrd as initrd', 'v.rootfs as rootfs']);
  const row =
    device?.profileId != null
      ? await profiles.where('p.id', '=', device.profileId).executeTakeFirst()
      : await profiles.where('p.discovery', '=', 1).orderBy('p.id').executeTakeFirst();
  const profile: BootProfileTarget | null = row
    ? {
        name: row.name,
        boot: row.boot === 'local' ? 'local' : 'image',
        kernelArgs: row.kernelArgs ?? '',
        image:
          row.image && row.version && row.kernel && row.initrd
            ? { name: row.image, version: row.version, kernel: row.kernel, initrd: row.initrd, rootfs: row.rootfs || null }
            : null,
      }
    : null;
  const siteId = device ? device.siteId : await subnetSite(db, client);
  const mirrors =
    siteId === null
      ? []
      : await db.selectFrom('boot_mirrors').select(['name', 'base_url', 'weight']).where('site_id', '=', siteId).where('enabled', '=', 1).execute();
  return {
    device: device ? { id: device.id, name: device.name ?? `device ${device.id}` } : null,
    profile,
    mirrors: orderMirrors(mac, mirrors.map((mirror) => ({ id: mirror.name, weight: mirror.weight, url: mirror.base_url }))).map((mirror) => mirror.url),
  };
}

/** The site of the narrowest boot subnet holding `client`; null when none does (or it is not IPv4). */
async function subnetSite(db: Kysely<BootTables>, client: string): Promise<number | null> {
  let address;
  try {
    address = parseAddress(client.replace(/^::ffff:/, ''));
  } catch {
    return null;
  }
  let best: { length: number; siteId: number | null } | null = null;
  for (const subnet of await db.selectFrom('boot_subnets').select(['prefix', 'site_id']).where('site_id', 'is not', null).execute()) {
    const prefix = parsePrefix(subnet.prefix, 'prefix');
    if (prefixContainsAddress(prefix, address) && (!best || prefix.length > best.length)) best = { length: prefix.length, siteId: subnet.site_id };
  }
  return best?.siteId ?? null;
}
