import { DhcpServer } from '../../src/boot/dhcp/server.js';
import { openServices } from '../../src/main.js';

/**
 * The DHCP tests' server process, started inside a network namespace as `node dhcp-server-process.js DATA_DIR IFACE`:
 * it runs DhcpServer on that store and interface, prints 'ready', and on SIGTERM stops and prints its counters.
 */
const [dataDir, iface] = process.argv.slice(2);
if (!dataDir || !iface) throw new Error('usage: dhcp-server-process.js DATA_DIR IFACE');
const services = await openServices({ dataDir });
const server = await DhcpServer.start({
  store: services.store,
  events: services.events,
  interfaces: [iface],
  httpPort: 8080,
  reloadSeconds: 2,
  log: (message, fields) => process.stderr.write(`${message} ${JSON.stringify(fields ?? {})}\n`),
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void (async () => {
    await server.stop();
    process.stdout.write(`counters ${JSON.stringify(server.counters)}\n`);
    await services.store.close();
    process.exit(0);
  })();
});
