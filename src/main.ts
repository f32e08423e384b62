import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { AuditLog } from './audit/log.js';
import { TokenService } from './auth/service.js';
import { buildApi } from './api/app.js';
import { systemClock, type Clock } from './core/clock.js';
import type { Config } from './config.js';
import { EventLog } from './events/log.js';
import { Store, type StoreLocation } from './store/store.js';
import * as dcim from './inventory/dcim.js';
import { ResourceRegistry } from './inventory/registry.js';
import { InventoryService } from './inventory/service.js';
import { tag, tenant } from './inventory/tenancy.js';
import * as boot from './boot/resources.js';
import { ImageCatalogue } from './boot/images/catalogue.js';
import { reactor } from './events/resources.js';
import { ipAddressResource, ipRangeResource, prefixResource } from './ipam/resources.js';
import { IpamService } from './ipam/service.js';
import { DhcpServer } from './boot/dhcp/server.js';
import { startBootTftp } from './boot/tftp/boot-tftp.js';
import { GitMirror } from './fleet/files.js';
import { FleetService } from './fleet/service.js';
import { FleetSync } from './fleet/sync.js';

/** Everything the API and the CLI work with, built in one place. */
export interface Services {
  clock: Clock;
  store: Store;
  audit: AuditLog;
  events: EventLog;
  tokens: TokenService;
  resources: ResourceRegistry;
  inventory: InventoryService;
  ipam: IpamService;
  fleet: FleetService;
  images: ImageCatalogue;
}

/** Every NetBox-shaped resource of the inventory and IPAM. */
export const INVENTORY_RESOURCES = [
  tenant,
  tag,
  dcim.region,
  dcim.siteGroup,
  dcim.site,
  dcim.location,
  dcim.rack,
  dcim.manufacturer,
  dcim.deviceType,
  dcim.deviceRole,
  dcim.platform,
  dcim.device,
  dcim.deviceInterface,
  boot.bootSubnet,
  boot.bootImage,
  boot.bootImageVersion,
  boot.bootMirror,
  boot.bootProfile,
  reactor,
  prefixResource,
  ipRangeResource,
  ipAddressResource,
];

/** The composition root: opens the store (migrating it) and builds the services on top. */
export async function openServices(location: StoreLocation, clock: Clock = systemClock): Promise<Services> {
  const store = await Store.open(location);
  const audit = new AuditLog(store.db, clock);
  const events = new EventLog(store.db, clock);
  const tokens = new TokenService(store, store.db, audit, events, clock);
  const resources = new ResourceRegistry(INVENTORY_RESOURCES);
  const inventory = new InventoryService(store, resources, audit, events, clock);
  const ipam = new IpamService(store, inventory, ipAddressResource, prefixResource, ipRangeResource);
  const fleet = new FleetService(store, resources, inventory, ipam, events);
  const images = new ImageCatalogue(store, inventory, join(store.location.dataDir, 'images'));
  return { clock, store, audit, events, tokens, resources, inventory, ipam, fleet, images };
}

/**
 * How long a stopping server lets requests in flight finish. Image downloads can run for minutes, and one whose
 * client stalled never ends; cutting them is safe, because iPXE retries and moves on to the next mirror.
 */
const DRAIN_MS = 10_000;

async function closeDraining(app: FastifyInstance): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), DRAIN_MS);
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}

/** Starts the API server (and the git sync, when configured); resolves once it listens. `stop()` drains, then closes. */
export async function serve(config: Config): Promise<{ url: string; stop: () => Promise<void> }> {
  const services = await openServices(config);
  let log: FastifyBaseLogger | null = null;
  const sync = config.sync
    ? new FleetSync(services.fleet, new GitMirror(config.sync.repository, config.sync.branch, join(config.dataDir, 'sync')), {
        ...config.sync,
        clock: services.clock,
        log: (message, fields) => log?.info(fields, message),
      })
    : null;
  const app = await buildApi(services, { logLevel: config.logLevel, sync, maxImageTransfers: config.maxImageTransfers });
  log = app.log;
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    await services.store.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  // Everything started so far, stopped in reverse order on shutdown or when a later part fails to start.
  const started: Array<() => Promise<void>> = [() => services.store.close(), () => closeDraining(app)];
  const stopAll = async () => {
    for (const stopOne of started.reverse()) await stopOne();
  };
  const serverLog = (message: string, fields?: Record<string, unknown>) => app.log.info(fields ?? {}, message);
  try {
    if (config.dhcpInterfaces.length > 0) {
      const dhcp = await DhcpServer.start({ store: services.store, events: services.events, interfaces: config.dhcpInterfaces, httpPort: port, log: serverLog });
      started.push(() => dhcp.stop());
    }
    if (config.tftp) {
      const tftp = await startBootTftp(config.tftp, join(config.dataDir, 'tftp'), services, serverLog);
      started.push(() => tftp.stop());
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  app.log.info({ database: services.store.description, dhcp: config.dhcpInterfaces, tftp: config.tftp ?? null }, 'hangar is serving');
  sync?.start();
  if (sync) started.push(() => sync.stop());
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= stopAll());
  return { url: `http://${host}:${port}`, stop };
}
