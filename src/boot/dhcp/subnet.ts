/**
 * A DHCP subnet as configured, and the same subnet compiled once to 32-bit numbers for the per-packet path:
 * containment tests, pool membership and the lease table's scan are integer compares, not parsing.
 */

import {
  InvalidAddressError,
  makeRange,
  netmask,
  parseAddress,
  parseDottedQuad,
  parsePrefix,
  prefixContainsAddress,
  rangeIntersection,
  usableRange,
  type IpRange,
} from '../../core/net/index.js';

export interface SubnetConfig {
  name: string;
  /** '10.0.0.0/24' */
  network: string;
  /** Dynamic pools for machines without a reservation; may be empty. */
  pools: Array<{ start: string; end: string }>;
  router: string | null;
  dnsServers: string[];
  domainName: string | null;
  leaseSeconds: number;
  /** 'proxy' is ProxyDHCP: boot information only, never an address (yiaddr 0). */
  mode: 'serve' | 'proxy';
  /** TFTP server; null means the address the server answers from. */
  nextServer: string | null;
  /** host[:port] of the HTTP boot service; null means the server address and EngineConfig.httpPort. */
  bootServer: string | null;
}

/** Inclusive bounds, as unsigned 32-bit numbers. */
export interface AddressPool {
  readonly start: number;
  readonly end: number;
}

export interface CompiledSubnet {
  readonly config: SubnetConfig;
  readonly name: string;
  readonly network: number;
  readonly mask: number;
  readonly prefixLength: number;
  /** The host addresses: the prefix without its network and broadcast addresses (all of a /31 or /32). */
  readonly firstHost: number;
  readonly lastHost: number;
  /** Sorted, disjoint, clipped to the host addresses. */
  readonly pools: readonly AddressPool[];
}

const compiled = new WeakMap<SubnetConfig, CompiledSubnet>();

/**
 * The numeric form of a subnet, computed once per config object. Throws InvalidAddressError or RangeError for a
 * network, pool or address that is not valid IPv4, a pool outside the network, or overlapping pools.
 */
export function compileSubnet(config: SubnetConfig): CompiledSubnet {
  const known = compiled.get(config);
  if (known !== undefined) return known;
  const field = `subnets.${config.name}`;
  const prefix = parsePrefix(config.network, `${field}.network`);
  if (prefix.network.family !== 4) throw new RangeError(`${field}.network: ${config.network} is not IPv4`);
  const hosts = usableRange(prefix);
  const pools: AddressPool[] = [];
  config.pools.forEach((pool, index) => {
    const poolField = `${field}.pools[${index}]`;
    const start = parseAddress(pool.start, `${poolField}.start`);
    const range = makeRange(start, parseAddress(pool.end, `${poolField}.end`), poolField);
    if (!prefixContainsAddress(prefix, range.start) || !prefixContainsAddress(prefix, range.end)) {
      const text = `${pool.start}-${pool.end}`;
      throw new InvalidAddressError(text, 'a pool', `it is outside ${config.network}`, poolField);
    }
    const usable: IpRange | undefined = rangeIntersection(range, hosts);
    if (usable !== undefined) pools.push({ start: Number(usable.start.value), end: Number(usable.end.value) });
  });
  pools.sort((a, b) => a.start - b.start);
  for (let i = 1; i < pools.length; i++) {
    if (pools[i]!.start <= pools[i - 1]!.end) {
      const kind = 'a subnet with disjoint pools';
      throw new InvalidAddressError(config.network, kind, 'two pools overlap', `${field}.pools`);
    }
  }
  for (const address of [config.router, config.nextServer, ...config.dnsServers]) {
    if (address !== null) parseDottedQuad(address);
  }
  const subnet: CompiledSubnet = {
    config,
    name: config.name,
    network: Number(prefix.network.value),
    mask: Number(netmask(prefix).value),
    prefixLength: prefix.length,
    firstHost: Number(hosts.start.value),
    lastHost: Number(hosts.end.value),
    pools,
  };
  compiled.set(config, subnet);
  return subnet;
}

export function subnetContains(subnet: CompiledSubnet, address: number): boolean {
  return (address & subnet.mask) >>> 0 === subnet.network;
}

/** In the subnet and neither its network nor its broadcast address. */
export function isHostAddress(subnet: CompiledSubnet, address: number): boolean {
  return address >= subnet.firstHost && address <= subnet.lastHost;
}

export function inPool(subnet: CompiledSubnet, address: number): boolean {
  for (const pool of subnet.pools) if (address >= pool.start && address <= pool.end) return true;
  return false;
}
