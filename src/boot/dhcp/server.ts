/**
 * The DHCP server process around the pure engine: pktinfo sockets on ports 67 (and 4011 once a subnet is ProxyDHCP),
 * subnets and reservations from the store, and durable leases. Lease changes are group-committed: every change of
 * the batches that arrived while the previous commit ran goes into one transaction with their events, and the
 * replies that depend on them are sent only after it commits. Replies that change nothing durable (OFFERs, NAKs)
 * go out at once.
 */

import { networkInterfaces } from 'node:os';
import type { Kysely } from 'kysely';
import { interfaceIndex, openPktinfoSocket, type PktinfoSocket, type ReceivedDatagram } from '../../core/udp/pktinfo-socket.js';
import type { EventInput, EventLog } from '../../events/log.js';
import type { Store } from '../../store/store.js';
import { DEFAULT_BOOT_FILES, type BootFiles } from './boot-file.js';
import { decodeDhcpPacket } from './codec.js';
import { DhcpEngine, type Arrival, type Decision } from './engine.js';
import { loadLeases, saveLeases } from './lease-store.js';
import { LeaseTable } from './leases.js';
import { loadSiteConfig, type SiteConfig } from './site-config.js';

export interface DhcpServerOptions {
  store: Store;
  events: EventLog;
  /** Interface names to serve on, e.g. ['eth1']. */
  interfaces: string[];
  /** The port of the HTTP boot service, for iPXE boot URLs. */
  httpPort: number;
  log(message: string, fields?: Record<string, unknown>): void;
  bootFiles?: BootFiles;
  /** Subnets, reservations and interface addresses are re-read this often, and soon after inventory changes. Default 30. */
  reloadSeconds?: number;
  /** Ports to listen on; tests may use others. Default 67 and 4011. */
  ports?: { dhcp: number; bootServer: number };
  now?: () => number;
}

export interface DhcpCounters {
  /** Datagrams read from the sockets. */
  received: number;
  /** Replies handed to the kernel. */
  replied: number;
  malformed: number;
  /** Packets that got no reply, by engine DropReason, plus 'other-interface', 'commit-failed' and 'send-failed'. */
  dropped: Record<string, number>;
  /** Transactions that made lease changes durable, and the changes in them. */
  commits: number;
  committedChanges: number;
}

/** A decision whose lease changes wait for the next commit. */
interface PendingDecision {
  decision: Decision;
  socket: PktinfoSocket;
  interfaceName: string;
}

const RELOAD_TRIGGERS = ['dcim.interface.', 'dcim.device.', 'ipam.ipaddress.', 'boot.subnet.'];
/** After an inventory change, wait this long for more before reloading. */
const RELOAD_DEBOUNCE_MS = 500;

export class DhcpServer {
  readonly counters: DhcpCounters = { received: 0, replied: 0, malformed: 0, dropped: {}, commits: 0, committedChanges: 0 };
  private engine: DhcpEngine;
  private readonly leases: LeaseTable;
  private arrivals = new Map<number, Arrival['interface']>();
  private dhcpSocket: PktinfoSocket | null = null;
  private bootServerSocket: PktinfoSocket | null = null;
  private pending: PendingDecision[] = [];
  /** Events of decisions with nothing durable: they ride along with the next commit. */
  private pendingEvents: EventInput[] = [];
  private committing: Promise<void> | null = null;
  private reloading: Promise<void> | null = null;
  private lastSeenEventId = 0;
  private reloadTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  private readonly now: () => number;

  private constructor(
    private readonly options: DhcpServerOptions,
    site: SiteConfig,
    leases: LeaseTable,
  ) {
    this.now = options.now ?? Date.now;
    this.leases = leases;
    this.engine = this.buildEngine(site);
  }

  static async start(options: DhcpServerOptions): Promise<DhcpServer> {
    const db = options.store.db as unknown as Kysely<unknown>;
    const site = await loadSiteConfig(db);
    const leases = new LeaseTable();
    leases.load(await loadLeases(db));
    const server = new DhcpServer(options, site, leases);
    server.reportProblems(site);
    server.lastSeenEventId = await server.latestEventId();
    server.resolveInterfaces();
    try {
      server.dhcpSocket = server.openSocket(options.ports?.dhcp ?? 67);
      server.openBootServerSocketIfNeeded(site);
    } catch (error) {
      server.closeSockets();
      throw error;
    }
    server.unsubscribe = options.events.onAppended(() => server.scheduleInventoryCheck());
    server.reloadTimer = setInterval(() => server.reload(), (options.reloadSeconds ?? 30) * 1000);
    server.reloadTimer.unref();
    options.log('dhcp server started', {
      interfaces: [...server.arrivals.values()].map(({ name, addresses }) => ({ name, addresses: addresses.map((a) => a.address) })),
      subnets: site.subnets.map((subnet) => subnet.name),
      reservations: site.reservations.size,
      leases: leases.size,
    });
    return server;
  }

  /** Stops receiving, then waits for the commit in flight (and sends its replies). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    // Close receiving only after the last commit: its replies still need a socket.
    while (this.committing) await this.committing;
    await this.reloading;
    this.closeSockets();
  }

  /** Re-reads subnets, reservations and interface addresses; keeps the old ones if that fails. */
  reload(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        const site = await loadSiteConfig(this.options.store.db as unknown as Kysely<unknown>);
        if (this.stopped) return;
        this.engine = this.buildEngine(site);
        this.reportProblems(site);
        this.resolveInterfaces();
        this.openBootServerSocketIfNeeded(site);
      } catch (error) {
        this.options.log('dhcp reload failed; serving the previous configuration', { error: String(error) });
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  private buildEngine(site: SiteConfig): DhcpEngine {
    return new DhcpEngine(
      {
        subnets: site.subnets,
        reservation: (mac) => site.reservations.get(mac),
        isReserved: (address) => site.reservedAddresses.has(address),
        httpPort: this.options.httpPort,
        bootFiles: this.options.bootFiles ?? DEFAULT_BOOT_FILES,
        offerHoldSeconds: 60,
        declineQuarantineSeconds: 600,
      },
      this.leases,
    );
  }

  private reportProblems(site: SiteConfig): void {
    for (const problem of site.problems) this.options.log(problem);
  }

  /** The configured interfaces by kernel index, with their IPv4 addresses now. */
  private resolveInterfaces(): void {
    const system = networkInterfaces();
    const arrivals = new Map<number, Arrival['interface']>();
    for (const name of this.options.interfaces) {
      const addresses = (system[name] ?? [])
        .filter((entry) => entry.family === 'IPv4')
        .map((entry) => ({ address: entry.address, prefixLength: Number(entry.cidr?.split('/')[1] ?? 32) }));
      if (addresses.length === 0) this.options.log(`dhcp interface ${name} has no IPv4 address; its packets are dropped`);
      arrivals.set(interfaceIndex(name), { name, ifindex: interfaceIndex(name), addresses });
    }
    this.arrivals = arrivals;
  }

  private openSocket(port: number): PktinfoSocket {
    const socket = openPktinfoSocket({
      port,
      onDatagrams: (batch) => this.receive(batch, socket, port === (this.options.ports?.bootServer ?? 4011) ? 4011 : 67),
      onError: (error) => this.options.log('dhcp receive failed', { port, error: String(error) }),
    });
    return socket;
  }

  private openBootServerSocketIfNeeded(site: SiteConfig): void {
    if (this.bootServerSocket || !site.subnets.some((subnet) => subnet.mode === 'proxy')) return;
    this.bootServerSocket = this.openSocket(this.options.ports?.bootServer ?? 4011);
  }

  private closeSockets(): void {
    this.dhcpSocket?.close();
    this.bootServerSocket?.close();
  }

  private receive(batch: ReceivedDatagram[], socket: PktinfoSocket, localPort: 67 | 4011): void {
    if (this.stopped) return;
    const now = this.now();
    for (const datagram of batch) {
      this.counters.received++;
      const iface = this.arrivals.get(datagram.ifindex);
      if (iface === undefined) {
        this.drop('other-interface');
        continue;
      }
      let packet;
      try {
        packet = decodeDhcpPacket(datagram.data);
      } catch {
        this.counters.malformed++;
        continue;
      }
      const arrival: Arrival = { interface: iface, source: { address: datagram.source, port: datagram.sourcePort }, localPort };
      const decision = this.engine.handle(packet, arrival, now);
      if (decision.dropReason !== null) this.drop(decision.dropReason);
      if (decision.leaseChanges.length > 0) {
        this.pending.push({ decision, socket, interfaceName: iface.name });
      } else {
        this.send(decision, socket);
        this.pendingEvents.push(eventOf(decision, iface.name));
      }
    }
    this.commitSoon();
  }

  /** Starts a commit unless one is running; the running one picks up what arrived meanwhile when it ends. */
  private commitSoon(): void {
    if (this.committing || (this.pending.length === 0 && this.pendingEvents.length === 0)) return;
    this.committing = this.commitLoop().finally(() => {
      this.committing = null;
    });
  }

  private async commitLoop(): Promise<void> {
    while (this.pending.length > 0 || this.pendingEvents.length > 0) {
      const decisions = this.pending;
      const events = this.pendingEvents;
      this.pending = [];
      this.pendingEvents = [];
      const changes = decisions.flatMap(({ decision }) => decision.leaseChanges);
      try {
        await this.options.store.transaction(async (tx) => {
          await saveLeases(tx.db as unknown as Kysely<unknown>, changes, new Date(this.now()).toISOString());
          await this.options.events.appendMany(tx, [...events, ...decisions.map(({ decision, interfaceName }) => eventOf(decision, interfaceName))]);
        });
      } catch (error) {
        // The engine's table already holds these changes: put it back to what the store says, and stay silent.
        this.options.log('dhcp lease commit failed; the replies are not sent', { error: String(error), changes: changes.length });
        for (const { decision } of decisions) if (decision.reply) this.drop('commit-failed');
        await this.reloadLeases();
        continue;
      }
      this.counters.commits++;
      this.counters.committedChanges += changes.length;
      for (const { decision, socket } of decisions) this.send(decision, socket);
    }
  }

  private async reloadLeases(): Promise<void> {
    try {
      this.leases.load(await loadLeases(this.options.store.db as unknown as Kysely<unknown>));
    } catch (error) {
      this.options.log('dhcp lease reload failed', { error: String(error) });
    }
  }

  private send(decision: Decision, socket: PktinfoSocket): void {
    if (decision.reply === null) return;
    const { bytes, to } = decision.reply;
    let sent = false;
    try {
      sent = socket.send(bytes, { address: to.address, port: to.port, source: to.source, ...(to.ifindex === null ? {} : { ifindex: to.ifindex }) });
    } catch (error) {
      this.options.log('dhcp send failed', { to: to.address, error: String(error) });
    }
    if (sent) this.counters.replied++;
    else this.drop('send-failed');
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  /** Debounced: one look at the event log for inventory changes after a burst of appends. */
  private scheduleInventoryCheck(): void {
    if (this.debounceTimer || this.stopped) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.checkInventoryEvents();
    }, RELOAD_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private async checkInventoryEvents(): Promise<void> {
    try {
      const after = this.lastSeenEventId;
      const latest = await this.latestEventId();
      if (latest <= after) return;
      this.lastSeenEventId = latest;
      const relevant = await this.options.store.db
        .selectFrom('events')
        .select('id')
        .where('id', '>', after)
        .where('id', '<=', latest)
        .where((eb) => eb.or(RELOAD_TRIGGERS.map((prefix) => eb('type', 'like', `${prefix}%`))))
        .limit(1)
        .executeTakeFirst();
      if (relevant) await this.reload();
    } catch (error) {
      this.options.log('dhcp inventory check failed', { error: String(error) });
    }
  }

  private async latestEventId(): Promise<number> {
    const row = await this.options.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(row?.id ?? 0);
  }
}

function eventOf(decision: Decision, interfaceName: string): EventInput {
  const { type, mac, address, subnet, detail } = decision.event;
  const data: Record<string, unknown> = { address, subnet, interface: interfaceName };
  if (detail !== undefined) data.detail = detail;
  return { type, subject: mac ?? address ?? 'unknown', actor: 'dhcp', data };
}
