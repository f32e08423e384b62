/** What a machine boots, from the inventory: its device's profile, or the discovery profile for unknown MACs. */

import type { Kysely } from 'kysely';

export interface BootTarget {
  /** The device whose interface has the MAC; null for an unknown machine. */
  device: { id: number; name: string } | null;
  /** null when the machine has no profile and there is no discovery profile. */
  profile: BootProfileTarget | null;
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
  dcim_devices: { id: number; name: string | null; boot_profile_id: number | null };
  boot_profiles: { id: number; name: string; boot: string; kernel_args: string; image_version_id: number | null; discovery: number };
  boot_image_versions: { id: number; image_id: number; version: string; kernel: string; initrd: string; rootfs: string };
  boot_images: { id: number; name: string };
}

/** `mac` in the inventory's spelling, AA:BB:CC:DD:EE:FF. */
export async function bootTargetFor(database: Kysely<unknown>, mac: string): Promise<BootTarget> {
  const db = database as Kysely<BootTables>;
  const device = await db
    .selectFrom('dcim_interfaces as i')
    .innerJoin('dcim_devices as d', 'd.id', 'i.device_id')
    .select(['d.id as id', 'd.name as name', 'd.boot_profile_id as profileId'])
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
  return { device: device ? { id: device.id, name: device.name ?? `device ${device.id}` } : null, profile };
}
