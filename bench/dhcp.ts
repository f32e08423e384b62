import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedStore } from '../test/lab/seed.js';
import { HANGAR_BIN, storeEnv } from '../test/lab/hangar-process.js';
import { createVethPair, runPerfdhcp, startDhcpServerIn, stopProcess, type ExchangeStats, type VethPair } from '../test/lab/netns.js';

/**
 * DHCPv4 throughput: the highest DORA rate perfdhcp can offer that Hangar (durable leases in SQLite, group commit)
 * answers with at most 0.1 % drops, against Kea 2.2 with memfile persist on (LAB.md), both on a veth pair between
 * two namespaces. Each rate gets a fresh server and a fresh lease store, so the pool never runs dry and no run
 * inherits another's leases. The ratio is Hangar's clean rate over Kea's: above 1, Hangar is faster.
 */

const RATES = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 14000];
/** BENCH_DHCP_FROM=N starts the steps at N, for a quick look near the limit; the full run starts low. */
const FIRST_RATE = Number(process.env.BENCH_DHCP_FROM ?? 0);
const RUN_SECONDS = 5;
const MAX_DROP_PERCENT = 0.1;

const SERVER_ADDRESS = '10.64.0.1';
const CLIENT_ADDRESS = '10.127.255.254';
const SUBNET = { prefix: '10.64.0.0/10', poolStart: '10.65.0.0', poolEnd: '10.126.255.255', leaseSeconds: 4000 };

interface ServerUnderTest {
  name: 'kea' | 'hangar';
  /** Prepares a fresh lease store in dir; returns the argv to run inside the server namespace. */
  prepare(dir: string, net: VethPair): Promise<{ argv: string[]; env: NodeJS.ProcessEnv }>;
}

const kea: ServerUnderTest = {
  name: 'kea',
  async prepare(dir, net) {
    const config = {
      Dhcp4: {
        'interfaces-config': { interfaces: [net.serverIf], 'dhcp-socket-type': 'raw' },
        'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases4.csv'), 'lfc-interval': 0 },
        'valid-lifetime': SUBNET.leaseSeconds,
        subnet4: [
          {
            id: 1,
            subnet: SUBNET.prefix,
            pools: [{ pool: `${SUBNET.poolStart} - ${SUBNET.poolEnd}` }],
            'option-data': [{ name: 'routers', data: SERVER_ADDRESS }],
          },
        ],
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
      },
    };
    writeFileSync(join(dir, 'kea.json'), JSON.stringify(config, null, 2));
    // Kea writes its pid and lock files under these; keep them in the throw-away dir.
    const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
    return { argv: ['/usr/sbin/kea-dhcp4', '-c', join(dir, 'kea.json')], env };
  },
};


const hangar: ServerUnderTest = {
  name: 'hangar',
  async prepare(dir, net) {
    await seedStore(dir, async (create) => {
      await create('boot.subnet', {
        name: 'bench',
        prefix: SUBNET.prefix,
        pools: [`${SUBNET.poolStart}-${SUBNET.poolEnd}`],
        router: SERVER_ADDRESS,
        dns_servers: [SERVER_ADDRESS],
        lease_time: SUBNET.leaseSeconds,
        mode: 'serve',
      });
    });
    const env = { ...storeEnv({ dataDir: dir }), HANGAR_LOG_LEVEL: 'warn' };
    return { argv: [process.execPath, HANGAR_BIN, 'serve', '--listen', '127.0.0.1:0', '--dhcp', net.serverIf], env };
  },
};

/** Steps up RATES until a rate drops more than MAX_DROP_PERCENT; returns the last clean rate (0 if none). */
async function cleanRate(server: ServerUnderTest, net: VethPair): Promise<number> {
  let clean = 0;
  for (const rate of RATES.filter((step) => step >= FIRST_RATE)) {
    const dir = mkdtempSync(join(tmpdir(), `hangar-bench-dhcp-${server.name}-`));
    let child: ChildProcess | null = null;
    try {
      const { argv, env } = await server.prepare(dir, net);
      child = await startDhcpServerIn(net.serverNs, argv, env, join(dir, 'server.log'));
      const result = await runPerfdhcp(net.clientNs, CLIENT_ADDRESS, SERVER_ADDRESS, { rate, seconds: RUN_SECONDS });
      if (Number.isNaN(result.discoverOffer.sent)) process.stderr.write(`perfdhcp gave no report: ${result.report.slice(-2000)}\n`);
      const fmt = (s: ExchangeStats) => `${s.received}/${s.sent}`;
      console.log(
        `${server.name.padEnd(6)} ${String(rate).padStart(6)}/s  DO ${fmt(result.discoverOffer)}  RA ${fmt(result.requestAck)}  drops ${result.dropPercent.toFixed(3)} %  load ${loadavg()[0]!.toFixed(2)}`,
      );
      if (result.dropPercent > MAX_DROP_PERCENT) break;
      clean = rate;
    } finally {
      if (child) await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return clean;
}

async function main(): Promise<void> {
  const net = createVethPair(`hgb${process.pid}`, `${SERVER_ADDRESS}/10`, `${CLIENT_ADDRESS}/10`);
  try {
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const keaRate = await cleanRate(kea, net);
    const hangarRate = await cleanRate(hangar, net);
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const ratio = keaRate > 0 ? (hangarRate / keaRate).toFixed(2) : 'n/a';
    console.log(`dhcp: hangar ${hangarRate}/s clean, kea ${keaRate}/s clean (drops <= ${MAX_DROP_PERCENT} %, durable leases), ratio ${ratio} against kea`);
  } finally {
    net.destroy();
  }
}

await main();
