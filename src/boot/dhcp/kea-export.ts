/**
 * The site's DHCP configuration as a Kea DHCPv4 config fragment (Kea 2.2 `Dhcp4.subnet4`), so a site can hand its
 * boot subnets and reservations to Kea. Pure: the caller reads the store (loadSiteConfig) and writes the output.
 * ProxyDHCP subnets are skipped: they hand out no addresses, which is all Kea would be given.
 */

import { parseDottedQuad } from '../../core/net/index.js';
import type { Reservation } from './engine.js';
import { compileSubnet, subnetContains, type SubnetConfig } from './subnet.js';

export interface KeaOptionData {
  name: 'routers' | 'domain-name-servers' | 'domain-name';
  data: string;
}

export interface KeaReservation {
  'hw-address': string;
  'ip-address': string;
  hostname?: string;
}

export interface KeaSubnet4 {
  id: number;
  subnet: string;
  pools: Array<{ pool: string }>;
  'option-data': KeaOptionData[];
  'valid-lifetime': number;
  reservations: KeaReservation[];
}

export interface KeaDhcp4Fragment {
  Dhcp4: { subnet4: KeaSubnet4[] };
}

/** What the export reads: the shape loadSiteConfig returns. */
export interface KeaExportInput {
  subnets: readonly SubnetConfig[];
  /** By MAC. */
  reservations: ReadonlyMap<string, Reservation>;
}

/**
 * One subnet4 entry per served subnet, ids 1..n in input order. A reservation goes to the subnet containing its
 * address; reservations outside every served subnet are left out, as the Hangar server leaves them unserved.
 */
export function keaDhcp4Fragment(input: KeaExportInput): KeaDhcp4Fragment {
  const served = input.subnets.filter((subnet) => subnet.mode === 'serve');
  const compiled = served.map((subnet) => compileSubnet(subnet));
  const reservationsBySubnet = served.map((): KeaReservation[] => []);
  const byMac = [...input.reservations].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [mac, reservation] of byMac) {
    const address = parseDottedQuad(reservation.address);
    const index = compiled.findIndex((subnet) => subnetContains(subnet, address));
    if (index < 0) continue;
    const entry: KeaReservation = { 'hw-address': mac.toLowerCase(), 'ip-address': reservation.address };
    if (reservation.hostname !== null && reservation.hostname !== '') entry.hostname = reservation.hostname;
    reservationsBySubnet[index]!.push(entry);
  }
  const subnet4 = served.map((subnet, index): KeaSubnet4 => ({
    id: index + 1,
    subnet: subnet.network,
    pools: subnet.pools.map((pool) => ({ pool: `${pool.start} - ${pool.end}` })),
    'option-data': optionData(subnet),
    'valid-lifetime': subnet.leaseSeconds,
    reservations: reservationsBySubnet[index]!,
  }));
  return { Dhcp4: { subnet4 } };
}

function optionData(subnet: SubnetConfig): KeaOptionData[] {
  const options: KeaOptionData[] = [];
  if (subnet.router !== null) options.push({ name: 'routers', data: subnet.router });
  if (subnet.dnsServers.length > 0) options.push({ name: 'domain-name-servers', data: subnet.dnsServers.join(', ') });
  if (subnet.domainName !== null) options.push({ name: 'domain-name', data: subnet.domainName });
  return options;
}
