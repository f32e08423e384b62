/**
 * The DHCP server process around the pure engine: pktinfo sockets on ports 67 (and 4011 once a subnet is ProxyDHCP),
 * subnets and reservations from the store, and durable leases. Lease changes are group-committed to the lease
 * journal: every change of the batches that arrived while the previous append ran goes into one write and one
 * fdatasync, with their events, and the replies that depend on them are sent only after it. Replies that change
 * nothing durable (OFFERs, NAKs) go out at once. The lease writer's thread indexes the journal into the store
 * (dhcp_leases, events) a fraction of a second behind.
 */

import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import {
  interfaceIndex,
  openPktinfoSocket,
  type OutgoingDatagram,
  type PktinfoSocket,
  type ReceivedDatagram,
} from '../../core/udp/pktinfo-socket.js';
import type { EventInput, EventLog } from '../../events/log.js';
import type { Store } from '../../store/store.js';
import { DEFAULT_BOOT_FILES, type BootFiles } from './boot-file.js';
import { decodeDhcpPacket } from './codec.js';
import { DhcpEngine, type Arrival, type Decision } from './engine.js';
import { journalLines, LeaseJournal, type JournalPosition } from './lease-journal.js';
import { loadLeases } from './lease-store.js';
import { LeaseWriter } from './lease-writer.js';
import { LeaseTable, type LeaseRecord } from './leases.js';
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
  /** Journal appends (write and fdatasync) that made lease changes durable, and the changes in them. */
  commits: number;
  committedChanges: number;
}

/** A decision whose reply waits for the next commit or for its turn in the outbox. */
interface PendingDecision {
  decision: Decision;
  socket: PktinfoSocket;
}

const RELOAD_TRIGGERS = ['dcim.interface.', 'dcim.device.', 'ipam.ipaddress.', 'boot.subnet.'];
/** After an inventory change, wait this long for more before reloading. */
const RELOAD_DEBOUNCE_MS = 500;
/** The journal is indexed into the store this often, so the store is about this far behind. */
const INDEX_INTERVAL_MS = 250;
/** On stop, the last segments' indexing is awaited this long; what is left is indexed on the next start. */
const STOP_INDEX_WAIT_MS = 10_000;
/** The pace of replies: 16,000 a second (twice Kea's clean rate of exchanges), in bursts of 32 at most. */
const REPLIES_PER_MS = 16;
const MAX_REPLY_BURST = 32;

export class DhcpServer {
  readonly counters: DhcpCounters = { received: 0, replied: 0, malformed: 0, dropped: {}, commits: 0, committedChanges: 0 };
  private engine: DhcpEngine;
  private readonly leases: LeaseTable;
  private arrivals = new Map<number, Arrival['interface']>();
  private dhcpSocket: PktinfoSocket | null = null;
  private bootServerSocket: PktinfoSocket | null = null;
  /** Decisions with lease changes, for the next commit. */
  private pending: PendingDecision[] = [];
  /** The events of every decision since the last commit began: the next commit journals them. */
  private pendingEvents: EventInput[] = [];
  private committing: Promise<void> | null = null;
  /** Replies whose leases are durable, waiting for their turn to be sent. */
  private outbox: PendingDecision[] = [];
  /** Replies the pace allows now: REPLIES_PER_MS accrue a millisecond, up to MAX_REPLY_BURST (a token bucket). */
  private replyAllowance = MAX_REPLY_BURST;
  private lastDrain = 0;
  private drainTimer: NodeJS.Timeout | null = null;
  /** Settles when the journal is indexed up to the last position asked for. */
  private indexing: Promise<void> = Promise.resolve();
  private indexRequested: JournalPosition = { segment: 0, offset: 0 };
  private indexTimer: NodeJS.Timeout | null = null;
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
    private readonly writer: LeaseWriter,
    private readonly journal: LeaseJournal,
  ) {
    this.now = options.now ?? Date.now;
    this.leases = leases;
    this.engine = this.buildEngine(site);
  }

  static async start(options: DhcpServerOptions): Promise<DhcpServer> {
    const db = options.store.db as unknown as Kysely<unknown>;
    const site = await loadSiteConfig(db);
    // The writer indexes what an earlier run journaled before the leases are loaded from the store.
    const journalDir = join(options.store.location.dataDir, 'dhcp-journal');
    const writer = await LeaseWriter.start({ location: options.store.location, journalDir }, (problem) =>
      options.log('dhcp lease journal indexing failed; retrying', { problem }),
    );
    const leases = new LeaseTable();
    let journal: LeaseJournal;
    try {
      leases.load(await loadLeases(db));
      journal = await LeaseJournal.open(journalDir, writer.nextSegment);
    } catch (error) {
      await writer.stop();
      throw error;
    }
    const server = new DhcpServer(options, site, leases, writer, journal);
    server.reportProblems(site);
    server.lastSeenEventId = await server.latestEventId();
    server.resolveInterfaces();
    try {
      server.dhcpSocket = server.openSocket(options.ports?.dhcp ?? 67);
      server.openBootServerSocketIfNeeded(site);
    } catch (error) {
      server.closeSockets();
      await journal.close();
      await writer.stop();
      throw error;
    }
    server.unsubscribe = options.events.onAppended(() => server.scheduleInventoryCheck());
    server.reloadTimer = setInterval(() => server.reload(), (options.reloadSeconds ?? 30) * 1000);
    server.reloadTimer.unref();
    server.indexTimer = setInterval(() => server.indexTo(server.journal.position, false), INDEX_INTERVAL_MS);
    server.indexTimer.unref();
    options.log('dhcp server started', {
      interfaces: [...server.arrivals.values()].map(({ name, addresses }) => ({ name, addresses: addresses.map((a) => a.address) })),
      subnets: site.subnets.map((subnet) => subnet.name),
      reservations: site.reservations.size,
      leases: leases.size,
      recoveredJournalSegments: writer.recovered,
    });
    return server;
  }

  /** Stops receiving, waits for the commit in flight (and sends its replies), then indexes the journal's rest. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    if (this.indexTimer) clearInterval(this.indexTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    // Close receiving only after the last commit: its replies still need a socket.
    while (this.committing) await this.committing;
    await this.reloading;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.sendReplies(this.outbox.splice(0));
    this.closeSockets();
    await this.journal.close();
    this.indexTo(this.journal.position, false);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.indexing, new Promise((resolve) => (timer = setTimeout(resolve, STOP_INDEX_WAIT_MS)))]);
    clearTimeout(timer);
    await this.writer.stop();
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
    // Replies that need no commit join the outbox together, so the batch's OFFERs leave in one paced burst.
    const immediate: PendingDecision[] = [];
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
      // Every event goes in the next commit; a reply waits for it only if it changed a lease.
      this.pendingEvents.push(eventOf(decision, iface.name));
      if (decision.leaseChanges.length > 0) this.pending.push({ decision, socket });
      else immediate.push({ decision, socket });
    }
    this.sendPaced(immediate);
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
      const changes: LeaseRecord[] = [];
      for (const { decision } of decisions) for (const change of decision.leaseChanges) changes.push(change);
      try {
        const finished = await this.journal.append(journalLines(changes, events, new Date(this.now()).toISOString()));
        if (finished) this.indexTo(finished, true);
      } catch (error) {
        // The engine's table already holds these changes: put it back to what is durable, and stay silent.
        this.options.log('dhcp lease journal append failed; the replies are not sent', { error: String(error), changes: changes.length });
        for (const { decision } of decisions) if (decision.reply) this.drop('commit-failed');
        this.indexTo(this.journal.position, false);
        await this.indexing;
        await this.reloadLeases();
        continue;
      }
      if (changes.length > 0) {
        this.counters.commits++;
        this.counters.committedChanges += changes.length;
      }
      this.sendPaced(decisions);
    }
  }

  /**
   * Sends replies in order, at most REPLIES_PER_MS a millisecond. A commit that waited on a slow disk releases
   * hundreds of ACKs at once, and a read of a full socket yields hundreds of OFFERs; a burst like that overflows
   * the receive buffer of a relay agent or a load generator that stands for many clients. Paced, they drain.
   */
  private sendPaced(decisions: readonly PendingDecision[]): void {
    for (const decision of decisions) if (decision.decision.reply !== null) this.outbox.push(decision);
    if (this.outbox.length > 0) this.drainOutbox();
  }

  /** Sends what the pace allows now; a non-empty outbox always has its next drain scheduled. */
  private drainOutbox(): void {
    // The allowance follows the time that really passed, so late timers and busy turns of the loop lose nothing
    // but what exceeds one burst.
    const now = performance.now();
    this.replyAllowance = Math.min(MAX_REPLY_BURST, this.replyAllowance + (now - this.lastDrain) * REPLIES_PER_MS);
    this.lastDrain = now;
    const count = Math.min(this.outbox.length, Math.floor(this.replyAllowance));
    if (count > 0) {
      this.replyAllowance -= count;
      // Usually the whole outbox fits; splicing it would copy it for nothing.
      const burst = count === this.outbox.length ? this.outbox : this.outbox.splice(0, count);
      if (burst === this.outbox) this.outbox = [];
      this.sendReplies(burst);
    }
    if (this.outbox.length > 0 && this.drainTimer === null) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = null;
        this.drainOutbox();
      }, 1);
    }
  }

  /** Asks the lease writer to index the journal up to `position`, unless it was asked already. */
  private indexTo(position: JournalPosition, finished: boolean): void {
    const asked = this.indexRequested;
    if (!finished && position.segment === asked.segment && position.offset <= asked.offset) return;
    this.indexRequested = position;
    this.indexing = this.writer.index(position, finished).then(
      () => this.options.events.announceAppended(),
      // Only when the thread died: the journal stays on disk and the next start indexes it.
      (error: unknown) => this.options.log('dhcp lease journal indexing stopped', { position, error: String(error) }),
    );
  }

  private async reloadLeases(): Promise<void> {
    try {
      this.leases.load(await loadLeases(this.options.store.db as unknown as Kysely<unknown>));
    } catch (error) {
      this.options.log('dhcp lease reload failed', { error: String(error) });
    }
  }

  /** Hands replies to the kernel: one sendmmsg per socket. */
  private sendReplies(items: readonly PendingDecision[]): void {
    let rest = items;
    while (rest.length > 0) {
      const socket = rest[0]!.socket;
      const others: PendingDecision[] = [];
      const datagrams: OutgoingDatagram[] = [];
      for (const item of rest) {
        const reply = item.decision.reply;
        if (item.socket !== socket) others.push(item);
        else if (reply !== null) datagrams.push({ data: reply.bytes, to: reply.to });
      }
      let sent = 0;
      try {
        sent = socket.sendBatch(datagrams, (error, index) =>
          this.options.log('dhcp send failed', { to: datagrams[index]?.to.address, error: String(error) }),
        );
      } catch (error) {
        this.options.log('dhcp send failed', { error: String(error) });
      }
      this.counters.replied += sent;
      if (sent < datagrams.length) this.drop('send-failed', datagrams.length - sent);
      rest = others;
    }
  }

  private drop(reason: string, count = 1): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + count;
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
