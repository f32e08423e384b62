/**
 * What the DHCP server serves, read from the store: boot subnets as engine SubnetConfigs, and reservations (the
 * IPv4 addresses inventory assigns to interfaces with a MAC, named after their device) inside those subnets.
 */

import type { Kysely } from 'kysely';
import { normalizeMac, parseDottedQuad } from '../../core/net/index.js';
import type { Reservation } from './engine.js';
import { compileSubnet, subnetContains, type CompiledSubnet, type SubnetConfig } from './subnet.js';

interface BootSubnetRow {
  name: string;
  prefix: string;
  mode: string;
  pools: string;
  router: string | null;
  dns_servers: string;
  domain_name: string;
  lease_time: number | string;
  next_server: string | null;
  boot_server: string;
}

interface ReservationRow {
  mac_address: string | null;
  address: string;
  device_name: string | null;
}

/** The tables read here; they are resource tables, not in the typed schema. */
interface SiteTables {
  boot_subnets: BootSubnetRow & { id: number };
  dcim_interfaces: { id: number; device_id: number | null; mac_address: string | null };
  dcim_devices: { id: number; name: string | null };
  ipam_ip_addresses: { address: string; family: number; assigned_object_type: string | null; assigned_object_id: number | null };
}

export interface SiteConfig {
  subnets: SubnetConfig[];
  /** By MAC, lower-case and colon-separated as the engine's packets carry it. */
  reservations: Map<string, Reservation>;
  /** Every reserved address. */
  reservedAddresses: Set<string>;
  /** Rows that could not be used, as messages for the log. */
  problems: string[];
}

/** A boot_subnets row as the engine's SubnetConfig; throws on values the engine cannot serve. */
export function subnetFromRow(row: BootSubnetRow): SubnetConfig {
  const pools = (JSON.parse(row.pools) as string[]).map((pool) => {
    const [start = '', end = start] = pool.split('-');
    return { start: start.trim(), end: end.trim() };
  });
  const config: SubnetConfig = {
    name: row.name,
    network: row.prefix,
    pools,
    router: row.router === '' ? null : row.router,
    dnsServers: JSON.parse(row.dns_servers) as string[],
    domainName: row.domain_name === '' ? null : row.domain_name,
    leaseSeconds: Number(row.lease_time),
    mode: row.mode === 'proxy' ? 'proxy' : 'serve',
    nextServer: row.next_server === '' ? null : row.next_server,
    bootServer: row.boot_server === '' ? null : row.boot_server,
  };
  compileSubnet(config); // validates
  return config;
}

export async function loadSiteConfig(db: Kysely<unknown>): Promise<SiteConfig> {
  const site = db as Kysely<SiteTables>;
  const problems: string[] = [];
  const subnets: SubnetConfig[] = [];
  const compiled: CompiledSubnet[] = [];
  const rows = await site
    .selectFrom('boot_subnets')
    .select(['name', 'prefix', 'mode', 'pools', 'router', 'dns_servers', 'domain_name', 'lease_time', 'next_server', 'boot_server'])
    .orderBy('name')
    .execute();
  for (const row of rows) {
    try {
      const config = subnetFromRow(row);
      subnets.push(config);
      compiled.push(compileSubnet(config));
    } catch (error) {
      problems.push(`boot subnet ${row.name} is not served: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const reservations = new Map<string, Reservation>();
  const reservedAddresses = new Set<string>();
  const assigned: ReservationRow[] = await site
    .selectFrom('ipam_ip_addresses as a')
    .innerJoin('dcim_interfaces as i', 'i.id', 'a.assigned_object_id')
    .leftJoin('dcim_devices as d', 'd.id', 'i.device_id')
    .select(['i.mac_address as mac_address', 'a.address as address', 'd.name as device_name'])
    .where('a.assigned_object_type', '=', 'dcim.interface')
    .where('a.family', '=', 4)
    .where('i.mac_address', 'is not', null)
    .where('i.mac_address', '!=', '')
    .orderBy('a.address')
    .execute();
  for (const row of assigned) {
    const address = row.address.split('/')[0]!;
    const number = parseDottedQuad(address);
    if (!compiled.some((subnet) => subnetContains(subnet, number))) continue;
    let mac: string;
    try {
      mac = normalizeMac(row.mac_address!).toLowerCase();
    } catch {
      problems.push(`interface MAC ${row.mac_address} is not a MAC address`);
      continue;
    }
    reservedAddresses.add(address);
    // The engine takes one reservation per MAC: the first address wins, the rest are still kept out of pools.
    if (reservations.has(mac)) {
      problems.push(`${mac} has more than one served address; ${reservations.get(mac)!.address} is used, not ${address}`);
      continue;
    }
    reservations.set(mac, { address, hostname: row.device_name === '' ? null : row.device_name });
  }
  return { subnets, reservations, reservedAddresses, problems };
}
