/**
 * The decision engine of the DHCPv4 server (RFC 2131/2132, PXE, iPXE, relay agents, ProxyDHCP). Pure: a decoded
 * packet, where it arrived and the time in; the reply bytes, where to send them, the lease changes to make
 * durable first, and one event out. The caller owns sockets, storage and the event log; the engine owns the
 * in-memory lease table, which it updates as it decides.
 */

import { parseDottedQuad } from '../../core/net/index.js';
import { decideBoot, isBootFile, type BootDecision, type BootFiles } from './boot-file.js';
import { BootpOp, ReplyTooLargeError, type DhcpPacket } from './codec.js';
import { leaseHolds, LeaseTable, type LeaseRecord } from './leases.js';
import { DhcpMessageType, DhcpOption, encodeIpv4, encodeText, encodeUint8, formatHex } from './options.js';
import {
  BROADCAST_FLAG,
  addressOptions,
  bootReply,
  bootServerReply,
  encodeReply,
  NO_ADDRESS,
  replyTarget,
  subnetOptions,
  type OptionEntry,
  type ReplyFields,
  type ReplyTarget,
  type SubnetOptions,
} from './reply.js';
import { compileSubnet, inPool, isHostAddress, subnetContains, type CompiledSubnet, type SubnetConfig } from './subnet.js';

export type { SubnetConfig } from './subnet.js';
export type { LeaseRecord, LeaseState } from './leases.js';
export type { ReplyTarget } from './reply.js';

/** An inventory-assigned address for a MAC. */
export interface Reservation {
  address: string;
  hostname: string | null;
}

export interface EngineConfig {
  subnets: SubnetConfig[];
  /** The MAC's reservation, looked up per packet (MACs lower-case, colon-separated). */
  reservation(mac: string): Reservation | undefined;
  /** Whether any MAC has this address reserved: such addresses are never handed out from a pool. */
  isReserved(address: string): boolean;
  httpPort: number;
  bootFiles: BootFiles;
  /** How long an offered address stays held for the client it was offered to, e.g. 60. */
  offerHoldSeconds: number;
  /** How long a declined address stays out of use, e.g. 600. */
  declineQuarantineSeconds: number;
}

export interface Arrival {
  /** The interface the packet came in on (IP_PKTINFO ifindex) and its IPv4 addresses. */
  interface: { name: string; ifindex: number; addresses: Array<{ address: string; prefixLength: number }> };
  source: { address: string; port: number };
  localPort: 67 | 4011;
}

export type DhcpEventType =
  | 'dhcp.discover'
  | 'dhcp.offer'
  | 'dhcp.request'
  | 'dhcp.ack'
  | 'dhcp.nak'
  | 'dhcp.decline'
  | 'dhcp.release'
  | 'dhcp.inform'
  | 'dhcp.drop';

/**
 * One observation per packet. Named after the reply when one is sent (offer, ack, nak), after the client's
 * message when none is (discover, request, decline, release, inform; `detail` says why), and 'dhcp.drop' for
 * packets that are not DHCP requests for a subnet of ours.
 */
export interface DhcpEvent {
  type: DhcpEventType;
  mac: string | null;
  address: string | null;
  subnet: string | null;
  detail?: string;
}

/** Why nothing was sent, for counters. */
export type DropReason =
  | 'not-request'
  | 'no-chaddr'
  | 'no-message-type'
  | 'no-subnet'
  | 'no-server-address'
  | 'no-pool'
  | 'pool-exhausted'
  | 'not-for-us'
  | 'no-requested-address'
  | 'unknown-client'
  | 'unknown-lease'
  | 'ignored'
  | 'reply-too-large'
  | 'internal-error';

export interface Decision {
  reply: { bytes: Uint8Array; to: ReplyTarget } | null;
  /**
   * Lease changes that must be durable before the reply is sent (bound, declined, released). Offer holds are
   * not among them: they live in memory only, and a REQUEST for a lost offer is judged on the address alone.
   * Records replace the stored record with the same address.
   */
  leaseChanges: LeaseRecord[];
  event: DhcpEvent;
  /** null when the packet was handled as it should be, even with no reply (DECLINE, RELEASE). */
  dropReason: DropReason | null;
}

const MESSAGE_TYPE_VALUE = {
  offer: encodeUint8(DhcpMessageType.offer),
  ack: encodeUint8(DhcpMessageType.ack),
  nak: encodeUint8(DhcpMessageType.nak),
};

const MESSAGE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(DhcpMessageType).map(([name, value]) => [value, name]),
);

function messageName(type: number): string {
  return MESSAGE_NAMES.get(type) ?? `message type ${type}`;
}

/** The event for a client message that got no reply; server message types from a client are drops. */
function clientEvent(type: number): DhcpEventType {
  switch (type) {
    case DhcpMessageType.discover:
      return 'dhcp.discover';
    case DhcpMessageType.request:
      return 'dhcp.request';
    case DhcpMessageType.decline:
      return 'dhcp.decline';
    case DhcpMessageType.release:
      return 'dhcp.release';
    case DhcpMessageType.inform:
      return 'dhcp.inform';
    default:
      return 'dhcp.drop';
  }
}

/** A subnet with the option values every reply on it carries, encoded once. */
interface ServedSubnet {
  readonly subnet: CompiledSubnet;
  readonly config: SubnetConfig;
  readonly options: SubnetOptions;
}

/** What the engine knows about one packet once it is classified. */
interface Exchange {
  readonly packet: DhcpPacket;
  readonly arrival: Arrival;
  readonly now: number;
  readonly mac: string;
  readonly served: ServedSubnet;
  readonly serverId: string;
  /** The arrival interface's addresses: any of them is accepted as our server identifier (RFC 2131 4.3.2). */
  readonly ownAddresses: readonly string[];
  readonly relayed: boolean;
  /** The MAC's reservation, if it lies in this subnet. */
  readonly reservation: Reservation | undefined;
}

/** A handler's result before the engine applies it to the lease table. */
interface Outcome {
  readonly reply: { bytes: Uint8Array; to: ReplyTarget } | null;
  readonly durable: LeaseRecord[];
  /** Offer holds and their release: memory only. Applied after `durable`. */
  readonly held: LeaseRecord[];
  readonly event: DhcpEvent;
  readonly dropReason: DropReason | null;
}

export class DhcpEngine {
  readonly leases: LeaseTable;
  private readonly config: EngineConfig;
  private readonly served: readonly ServedSubnet[];
  /** Option 54 values by server address, encoded once. */
  private readonly serverIds = new Map<string, Uint8Array>();

  /** Throws (InvalidAddressError, RangeError) on a configuration that cannot be served. */
  constructor(config: EngineConfig, leases: LeaseTable = new LeaseTable()) {
    this.config = config;
    this.leases = leases;
    const names = new Set<string>();
    this.served = config.subnets.map((subnetConfig) => {
      if (names.has(subnetConfig.name)) throw new RangeError(`subnet ${subnetConfig.name} is configured twice`);
      names.add(subnetConfig.name);
      const subnet = compileSubnet(subnetConfig);
      return { subnet, config: subnetConfig, options: subnetOptions(subnet) };
    });
    for (const [name, seconds] of [
      ['offerHoldSeconds', config.offerHoldSeconds],
      ['declineQuarantineSeconds', config.declineQuarantineSeconds],
    ] as const) {
      if (!(seconds > 0)) throw new RangeError(`${name} must be positive, got ${seconds}`);
    }
  }

  /** Decides what to do with one packet and updates the lease table. Never throws. */
  handle(packet: DhcpPacket, arrival: Arrival, now: number): Decision {
    let outcome: Outcome;
    try {
      outcome = this.decide(packet, arrival, now);
    } catch (error) {
      // A reply too big for the client, or a bug: either way nothing is sent and the table is untouched.
      const tooLarge = error instanceof ReplyTooLargeError;
      return {
        reply: null,
        leaseChanges: [],
        event: { type: 'dhcp.drop', mac: packet.chaddr, address: null, subnet: null, detail: String(error) },
        dropReason: tooLarge ? 'reply-too-large' : 'internal-error',
      };
    }
    for (const record of outcome.durable) this.leases.apply(record);
    for (const record of outcome.held) this.leases.apply(record);
    const { reply, durable, event, dropReason } = outcome;
    return { reply, leaseChanges: durable, event, dropReason };
  }

  private decide(packet: DhcpPacket, arrival: Arrival, now: number): Outcome {
    if (packet.op !== BootpOp.request) return dropped('not-request', packet.chaddr);
    const mac = packet.chaddr;
    if (mac === null) return dropped('no-chaddr', null, `htype ${packet.htype}, hlen ${packet.hlen}`);
    const type = packet.messageType;
    if (type === undefined) return dropped('no-message-type', mac, 'plain BOOTP is not served');
    // IPv4 only: an interface may carry IPv6 addresses too, and they never identify a DHCPv4 server.
    const ownAddresses: string[] = [];
    for (const { address } of arrival.interface.addresses) if (!address.includes(':')) ownAddresses.push(address);
    const relayed = packet.giaddr !== NO_ADDRESS;
    const selection = this.selectSubnet(packet, ownAddresses, relayed);
    if (typeof selection === 'string') {
      return dropped(selection, mac, `${messageName(type)} via ${arrival.interface.name}`);
    }
    const reservation = this.config.reservation(mac);
    const inSubnet =
      reservation !== undefined && subnetContains(selection.served.subnet, parseDottedQuad(reservation.address));
    const ex: Exchange = {
      packet,
      arrival,
      now,
      mac,
      served: selection.served,
      serverId: selection.serverId,
      ownAddresses,
      relayed,
      reservation: inSubnet ? reservation : undefined,
    };

    if (arrival.localPort === 4011) return this.bootServerRequest(ex, type);
    if (ex.served.config.mode === 'proxy') return this.proxyRequest(ex, type);
    switch (type) {
      case DhcpMessageType.discover:
        return this.discover(ex);
      case DhcpMessageType.request:
        return this.request(ex);
      case DhcpMessageType.decline:
        return this.decline(ex);
      case DhcpMessageType.release:
        return this.release(ex);
      case DhcpMessageType.inform:
        return this.inform(ex);
      default:
        return this.unanswered(ex, 'ignored', 'dhcp.drop', null, `${messageName(type)} from a client`);
    }
  }

  /**
   * Relayed: the subnet of giaddr. Otherwise the subnet of ciaddr when the client has one (unicast renewals
   * from routed clients carry no giaddr), else the subnet of an address of the arrival interface.
   */
  private selectSubnet(
    packet: DhcpPacket,
    ownAddresses: readonly string[],
    relayed: boolean,
  ): { served: ServedSubnet; serverId: string } | DropReason {
    if (relayed) {
      const served = this.subnetOf(parseDottedQuad(packet.giaddr));
      if (served === undefined) return 'no-subnet';
      const serverId = ownAddresses[0];
      return serverId === undefined ? 'no-server-address' : { served, serverId };
    }
    if (packet.ciaddr !== NO_ADDRESS) {
      const served = this.subnetOf(parseDottedQuad(packet.ciaddr));
      if (served !== undefined) {
        const serverId =
          ownAddresses.find((own) => subnetContains(served.subnet, parseDottedQuad(own))) ?? ownAddresses[0];
        return serverId === undefined ? 'no-server-address' : { served, serverId };
      }
    }
    for (const own of ownAddresses) {
      const served = this.subnetOf(parseDottedQuad(own));
      if (served !== undefined) return { served, serverId: own };
    }
    return 'no-subnet';
  }

  private subnetOf(address: number): ServedSubnet | undefined {
    for (const served of this.served) if (subnetContains(served.subnet, address)) return served;
    return undefined;
  }

  // ---------------------------------------------------------------- serve mode

  /** RFC 2131 4.3.1: the reservation, else the client's own lease, else the requested address, else a free one. */
  private discover(ex: Exchange): Outcome {
    const { served, mac, now } = ex;
    let address = this.usableReservation(ex);
    if (address === undefined) {
      const own = this.leases.byMac(served.config.name, mac);
      if (own !== undefined && this.offerable(ex, own.address)) address = own.address;
    }
    const requested = ex.packet.requestedAddress;
    if (address === undefined && requested !== undefined && this.offerable(ex, requested)) address = requested;
    if (address === undefined) {
      if (served.subnet.pools.length === 0) {
        return this.unanswered(ex, 'no-pool', 'dhcp.discover', null, 'unknown MAC and no pool');
      }
      const excluded = (candidate: string): boolean =>
        this.config.isReserved(candidate) || ex.ownAddresses.includes(candidate);
      address = this.leases.nextFree(served.config, now, excluded);
      if (address === undefined) return this.unanswered(ex, 'pool-exhausted', 'dhcp.discover', null);
    }

    const current = this.leases.byAddress(address);
    const alreadyBound =
      current !== undefined && current.mac === mac && current.state === 'bound' && leaseHolds(current, now);
    const held = alreadyBound ? [] : [this.record(ex, address, 'offered', now + this.config.offerHoldSeconds * 1000)];
    const boot = this.boot(ex);
    const { fields, options } = bootReply(ex.packet, boot);
    const bytes = this.encode(
      ex,
      MESSAGE_TYPE_VALUE.offer,
      { yiaddr: address, ...fields },
      addressOptions(served.options, ex.reservation?.hostname),
      options,
    );
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'reply') },
      durable: [],
      held,
      event: this.event(ex, 'dhcp.offer', address, bootDetail(boot)),
      dropReason: null,
    };
  }

  /** RFC 2131 4.3.2: SELECTING (54 present), INIT-REBOOT (50, no ciaddr), RENEWING and REBINDING (ciaddr). */
  private request(ex: Exchange): Outcome {
    const { packet, served, mac, now } = ex;
    const serverId = packet.serverId;
    const requested = packet.requestedAddress;
    const ciaddr = packet.ciaddr === NO_ADDRESS ? undefined : packet.ciaddr;

    if (serverId !== undefined) {
      if (!ex.ownAddresses.includes(serverId)) {
        // The client chose another server: our offer hold goes back to the pool.
        const held = this.leases
          .recordsOf(served.config.name, mac)
          .filter((own) => own.state === 'offered' && leaseHolds(own, now))
          .map((own): LeaseRecord => ({ ...own, state: 'released', expiresAt: now }));
        return { ...this.unanswered(ex, 'not-for-us', 'dhcp.request', requested ?? null, `server ${serverId}`), held };
      }
      const address = requested ?? ciaddr;
      if (address === undefined) return this.unanswered(ex, 'no-requested-address', 'dhcp.request', null);
      return this.acceptable(ex, address) ? this.ack(ex, address) : this.nak(ex, address, 'address not available');
    }

    if (ciaddr === undefined) {
      if (requested === undefined) return this.unanswered(ex, 'no-requested-address', 'dhcp.request', null);
      if (!subnetContains(served.subnet, parseDottedQuad(requested))) return this.nak(ex, requested, 'wrong network');
      const own = this.leases.recordsOf(served.config.name, mac);
      const holder = this.leases.byAddress(requested);
      const heldByOther = holder !== undefined && leaseHolds(holder, now) && holder.mac !== mac;
      // RFC 2131 4.3.2: a server with no record of the client stays silent; another client's lease is a record.
      if (ex.reservation === undefined && own.length === 0 && !heldByOther) {
        return this.unanswered(ex, 'unknown-client', 'dhcp.request', requested);
      }
      const known = requested === this.usableReservation(ex) || own.some((record) => record.address === requested);
      if (known && this.acceptable(ex, requested)) return this.ack(ex, requested);
      return this.nak(ex, requested, 'wrong address');
    }

    const holder = this.leases.byAddress(ciaddr);
    const theirs =
      ciaddr === this.usableReservation(ex) ||
      (holder !== undefined && holder.mac === mac && holder.subnet === served.config.name);
    return theirs && this.acceptable(ex, ciaddr) ? this.ack(ex, ciaddr) : this.nak(ex, ciaddr, 'lease not found');
  }

  /** RFC 2131 4.3.3: the address is in use elsewhere; keep it out of the pool for a while. */
  private decline(ex: Exchange): Outcome {
    const { packet, served, now } = ex;
    const serverId = packet.serverId;
    const address = packet.requestedAddress;
    if (serverId !== undefined && !ex.ownAddresses.includes(serverId)) {
      return this.unanswered(ex, 'not-for-us', 'dhcp.decline', address ?? null, `server ${serverId}`);
    }
    if (address === undefined) return this.unanswered(ex, 'no-requested-address', 'dhcp.decline', null);
    if (!subnetContains(served.subnet, parseDottedQuad(address))) {
      return this.unanswered(ex, 'ignored', 'dhcp.decline', address, 'address outside the subnet');
    }
    const holder = this.leases.byAddress(address);
    // Only the client the address was given to may take it out of use.
    if (holder !== undefined && leaseHolds(holder, now) && holder.mac !== ex.mac) {
      return this.unanswered(ex, 'ignored', 'dhcp.decline', address, 'address held by another client');
    }
    const quarantine: LeaseRecord = {
      address,
      mac: null,
      subnet: served.config.name,
      state: 'declined',
      expiresAt: now + this.config.declineQuarantineSeconds * 1000,
      hostname: null,
      clientId: null,
    };
    const event = this.event(ex, 'dhcp.decline', address);
    return { reply: null, durable: [quarantine], held: [], event, dropReason: null };
  }

  /** RFC 2131 4.3.4: the client gives its address back. */
  private release(ex: Exchange): Outcome {
    const { packet, served, now } = ex;
    const serverId = packet.serverId;
    const address = packet.ciaddr === NO_ADDRESS ? null : packet.ciaddr;
    if (serverId !== undefined && !ex.ownAddresses.includes(serverId)) {
      return this.unanswered(ex, 'not-for-us', 'dhcp.release', address, `server ${serverId}`);
    }
    const holder = address === null ? undefined : this.leases.byAddress(address);
    const theirs = holder !== undefined && holder.mac === ex.mac && holder.subnet === served.config.name;
    if (!theirs || holder.state === 'released') {
      return this.unanswered(ex, 'unknown-lease', 'dhcp.release', address);
    }
    const released: LeaseRecord = { ...holder, state: 'released', expiresAt: now };
    const event = this.event(ex, 'dhcp.release', address);
    return { reply: null, durable: [released], held: [], event, dropReason: null };
  }

  /** RFC 2131 4.3.5: configuration only; no address, no lease time, no lease looked up. */
  private inform(ex: Exchange): Outcome {
    const bytes = this.encode(ex, MESSAGE_TYPE_VALUE.ack, { ciaddr: ex.packet.ciaddr }, ex.served.options.network, []);
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'reply') },
      durable: [],
      held: [],
      event: this.event(ex, 'dhcp.ack', ex.packet.ciaddr === NO_ADDRESS ? null : ex.packet.ciaddr, 'inform'),
      dropReason: null,
    };
  }

  private ack(ex: Exchange, address: string): Outcome {
    const { served, mac, now } = ex;
    const bound = this.record(ex, address, 'bound', now + served.options.leaseMs);
    const durable: LeaseRecord[] = [bound];
    const held: LeaseRecord[] = [];
    // A client holds one address per subnet: leases and offers it had elsewhere go back to the pool.
    for (const previous of this.leases.recordsOf(served.config.name, mac)) {
      if (previous.address === address || !leaseHolds(previous, now)) continue;
      const released: LeaseRecord = { ...previous, state: 'released', expiresAt: now };
      (previous.state === 'bound' ? durable : held).push(released);
    }
    const boot = this.boot(ex);
    const { fields, options } = bootReply(ex.packet, boot);
    const bytes = this.encode(
      ex,
      MESSAGE_TYPE_VALUE.ack,
      { ciaddr: ex.packet.ciaddr, yiaddr: address, ...fields },
      addressOptions(served.options, ex.reservation?.hostname),
      options,
    );
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'reply') },
      durable,
      held,
      event: this.event(ex, 'dhcp.ack', address, bootDetail(boot)),
      dropReason: null,
    };
  }

  /** RFC 2131 table 3: yiaddr, ciaddr and siaddr 0, only 53, 54 and a message; broadcast bit set for relays. */
  private nak(ex: Exchange, address: string, reason: string): Outcome {
    const flags = ex.packet.flags | (ex.relayed ? BROADCAST_FLAG : 0);
    const bytes = this.encode(ex, MESSAGE_TYPE_VALUE.nak, { flags }, [[DhcpOption.message, encodeText(reason)]], []);
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'nak') },
      durable: [],
      held: [],
      event: this.event(ex, 'dhcp.nak', address, reason),
      dropReason: null,
    };
  }

  // ---------------------------------------------------------------- ProxyDHCP and the PXE boot server (4011)

  /**
   * ProxyDHCP: another server gives addresses; this one answers PXE and HTTP boot DISCOVERs with boot information
   * and yiaddr 0. Clients that want more (most UEFI PXE ROMs, iPXE) ask again on port 4011.
   */
  private proxyRequest(ex: Exchange, type: number): Outcome {
    if (type !== DhcpMessageType.discover) {
      const detail = `proxy mode: ${messageName(type)} on port 67 is for the DHCP server`;
      return this.unanswered(ex, 'ignored', clientEvent(type), null, detail);
    }
    const boot = this.boot(ex);
    if (!isBootFile(boot)) {
      return this.unanswered(ex, 'ignored', 'dhcp.discover', null, `proxy mode: ${bootDetail(boot)}`);
    }
    // yiaddr is 0, so a relay could not unicast to the client: ask for a broadcast.
    const flags = ex.packet.flags | BROADCAST_FLAG;
    const { fields, options } = bootReply(ex.packet, boot);
    const bytes = this.encode(ex, MESSAGE_TYPE_VALUE.offer, { flags, ...fields }, [], options);
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'reply') },
      durable: [],
      held: [],
      event: this.event(ex, 'dhcp.offer', null, `proxy, ${bootDetail(boot)}`),
      dropReason: null,
    };
  }

  /** Port 4011 (PXE boot server discovery): the client has an address; it gets the boot information only. */
  private bootServerRequest(ex: Exchange, type: number): Outcome {
    if (type !== DhcpMessageType.request && type !== DhcpMessageType.inform) {
      return this.unanswered(ex, 'ignored', clientEvent(type), null, `${messageName(type)} on port 4011`);
    }
    const boot = this.boot(ex);
    const clientAddress = ex.packet.ciaddr === NO_ADDRESS ? null : ex.packet.ciaddr;
    if (!isBootFile(boot)) {
      return this.unanswered(ex, 'ignored', clientEvent(type), clientAddress, `port 4011: ${bootDetail(boot)}`);
    }
    const { fields, options } = bootServerReply(ex.packet, boot);
    const bytes = this.encode(ex, MESSAGE_TYPE_VALUE.ack, { ciaddr: ex.packet.ciaddr, ...fields }, [], options);
    return {
      reply: { bytes, to: replyTarget(ex.packet, ex.arrival, ex.serverId, 'reply') },
      durable: [],
      held: [],
      event: this.event(ex, 'dhcp.ack', clientAddress, `boot server, ${bootDetail(boot)}`),
      dropReason: null,
    };
  }

  // ---------------------------------------------------------------- address rules

  /** The reservation's address if no other client holds it. */
  private usableReservation(ex: Exchange): string | undefined {
    const address = ex.reservation?.address;
    return address !== undefined && this.freeFor(ex, address) ? address : undefined;
  }

  /** A host address of the subnet, not the server's, and not held by another client or a quarantine. */
  private freeFor(ex: Exchange, address: string): boolean {
    const value = parseDottedQuad(address);
    if (!subnetContains(ex.served.subnet, value) || !isHostAddress(ex.served.subnet, value)) return false;
    if (ex.ownAddresses.includes(address)) return false;
    const holder = this.leases.byAddress(address);
    return holder === undefined || !leaseHolds(holder, ex.now) || holder.mac === ex.mac;
  }

  /** Free for the client, and either its reservation or a pool address nobody has reserved. */
  private offerable(ex: Exchange, address: string): boolean {
    if (!this.freeFor(ex, address)) return false;
    if (address === ex.reservation?.address) return true;
    return inPool(ex.served.subnet, parseDottedQuad(address)) && !this.config.isReserved(address);
  }

  /** What a REQUEST may bind: the usable reservation if any (so the client moves to it), else an offerable address. */
  private acceptable(ex: Exchange, address: string): boolean {
    const reserved = this.usableReservation(ex);
    return reserved !== undefined ? address === reserved : this.offerable(ex, address);
  }

  // ---------------------------------------------------------------- replies

  private boot(ex: Exchange): BootDecision {
    const { config } = ex.served;
    return decideBoot(ex.packet, this.config.bootFiles, {
      serverAddress: ex.serverId,
      nextServer: config.nextServer,
      bootServer: config.bootServer,
      httpPort: this.config.httpPort,
    });
  }

  private record(ex: Exchange, address: string, state: 'offered' | 'bound', expiresAt: number): LeaseRecord {
    const clientId = ex.packet.clientId;
    return {
      address,
      mac: ex.mac,
      subnet: ex.served.config.name,
      state,
      expiresAt,
      hostname: ex.reservation?.hostname ?? ex.packet.hostName ?? null,
      clientId: clientId === undefined ? null : formatHex(clientId, 0, clientId.length, ':'),
    };
  }

  private encode(
    ex: Exchange,
    messageType: Uint8Array,
    fields: ReplyFields,
    fixed: readonly OptionEntry[],
    requestable: readonly OptionEntry[],
  ): Uint8Array {
    let serverId = this.serverIds.get(ex.serverId);
    if (serverId === undefined) {
      serverId = encodeIpv4(ex.serverId);
      this.serverIds.set(ex.serverId, serverId);
    }
    return encodeReply(ex.packet, messageType, serverId, fields, fixed, requestable);
  }

  private event(ex: Exchange, type: DhcpEventType, address: string | null, detail?: string): DhcpEvent {
    const event: DhcpEvent = { type, mac: ex.mac, address, subnet: ex.served.config.name };
    if (detail !== undefined) event.detail = detail;
    return event;
  }

  private unanswered(
    ex: Exchange,
    reason: DropReason,
    type: DhcpEventType,
    address: string | null,
    detail?: string,
  ): Outcome {
    const event = this.event(ex, type, address, detail ?? reason);
    return { reply: null, durable: [], held: [], event, dropReason: reason };
  }
}

function bootDetail(boot: BootDecision): string {
  if (isBootFile(boot)) return `${boot.kind} ${boot.file}`;
  return boot.kind === 'unsupported' ? boot.reason : 'not a network boot client';
}

function dropped(reason: DropReason, mac: string | null, detail?: string): Outcome {
  const event: DhcpEvent = { type: 'dhcp.drop', mac, address: null, subnet: null, detail: reason };
  if (detail !== undefined) event.detail = `${reason}: ${detail}`;
  return { reply: null, durable: [], held: [], event, dropReason: reason };
}
