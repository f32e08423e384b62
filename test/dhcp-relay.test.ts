/**
 * The DHCP server behind a relay agent: ISC dhcrelay forwards two client segments to Hangar on a separate uplink
 * network, with option 82 added, and busybox udhcpc on each segment must get an address of its own segment's subnet.
 * Five network namespaces (server, relay, two clients) joined by veth pairs. Needs root and dhcrelay; skipped otherwise.
 * The server is `hangar serve --dhcp` in its own namespace.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storedLeases } from './lab/dhcp-leases.js';
import { seedStore } from './lab/seed.js';
import { HANGAR_BIN } from './lab/hangar-process.js';

const DHCRELAY = '/usr/sbin/dhcrelay';

/** A child started in a namespace; `ip netns exec` execs in place, so the child's pid is the program's own. */
interface Started {
  child: ChildProcess;
  output: () => string;
}

function startIn(ns: string, program: string, args: string[], env: NodeJS.ProcessEnv, readyWhen: RegExp, timeoutMs: number): Promise<Started> {
  const child = spawn('ip', ['netns', 'exec', ns, program, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${program} did not get ready in ${timeoutMs} ms: ${output}`)), timeoutMs);
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
      if (readyWhen.test(output)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${program} exited with ${code}: ${output}`));
    });
  });
}

async function stop(started: Started | null): Promise<void> {
  if (started === null || started.child.exitCode !== null || started.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => started.child.once('exit', () => resolve()));
  started.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
  clearTimeout(timer); // a pending timer would hold the test process open
  if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
}

{
  const isRoot = process.getuid?.() === 0;
  const skip = !isRoot ? 'needs root for network namespaces' : !existsSync(DHCRELAY) ? `${DHCRELAY} is not installed (isc-dhcp-relay)` : false;
  const tag = `hgr-${process.pid}`;
  const ns = { server: `${tag}-s`, relay: `${tag}-r`, a: `${tag}-a`, b: `${tag}-b` };
  // veth names: server uplink, relay uplink, relay downlink to A/B, client A/B.
  const link = {
    serverUp: `hrs${process.pid}`.slice(0, 15),
    relayUp: `hru${process.pid}`.slice(0, 15),
    relayA: `hra${process.pid}`.slice(0, 15),
    relayB: `hrb${process.pid}`.slice(0, 15),
    clientA: `hca${process.pid}`.slice(0, 15),
    clientB: `hcb${process.pid}`.slice(0, 15),
  };
  const MAC_A = '02:00:0a:fc:01:99';
  const MAC_B = '02:00:0a:fc:02:99';

  const run = (...args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 30_000 });
  const inNs = (name: string, ...args: string[]): string => run('ip', 'netns', 'exec', name, ...args);

  describe('DHCP server behind a relay agent', { skip }, () => {
    let dir = '';
    let server: Started | null = null;
    let relay: Started | null = null;

    async function seed(): Promise<void> {
      await seedStore(dir, async (create) => {
        for (const segment of [1, 2]) {
          await create('boot.subnet', {
            name: `segment-${segment}`,
            prefix: `10.252.${segment}.0/24`,
            pools: [`10.252.${segment}.100-10.252.${segment}.150`],
            router: `10.252.${segment}.1`,
            dns_servers: [`10.252.${segment}.53`],
            domain_name: `segment${segment}.example`,
          });
        }
      });
    }

    const leaseRows = () => storedLeases(dir);

    function udhcpc(client: string, iface: string): string {
      const script = join(dir, 'udhcpc-script');
      writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip router=$router dns=$dns domain=$domain"\nexit 0\n');
      chmodSync(script, 0o755);
      return inNs(client, 'udhcpc', '-i', iface, '-n', '-q', '-f', '-t', '6', '-T', '1', '-s', script);
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hangar-dhcp-relay-'));
      for (const name of Object.values(ns)) run('ip', 'netns', 'add', name);
      const pair = (left: string, leftNs: string, right: string, rightNs: string): void => {
        run('ip', 'link', 'add', left, 'type', 'veth', 'peer', 'name', right);
        run('ip', 'link', 'set', left, 'netns', leftNs);
        run('ip', 'link', 'set', right, 'netns', rightNs);
      };
      pair(link.serverUp, ns.server, link.relayUp, ns.relay);
      pair(link.relayA, ns.relay, link.clientA, ns.a);
      pair(link.relayB, ns.relay, link.clientB, ns.b);
      const up = (name: string, iface: string, address?: string): void => {
        if (address !== undefined) inNs(name, 'ip', 'addr', 'add', address, 'dev', iface);
        inNs(name, 'ip', 'link', 'set', iface, 'up');
      };
      for (const name of Object.values(ns)) up(name, 'lo');
      up(ns.server, link.serverUp, '10.252.0.1/24');
      up(ns.relay, link.relayUp, '10.252.0.2/24');
      up(ns.relay, link.relayA, '10.252.1.1/24');
      up(ns.relay, link.relayB, '10.252.2.1/24');
      inNs(ns.a, 'ip', 'link', 'set', link.clientA, 'address', MAC_A);
      inNs(ns.b, 'ip', 'link', 'set', link.clientB, 'address', MAC_B);
      up(ns.a, link.clientA);
      up(ns.b, link.clientB);
      // Replies go to giaddr, the relay's downlink address.
      for (const segment of ['10.252.1.0/24', '10.252.2.0/24']) inNs(ns.server, 'ip', 'route', 'add', segment, 'via', '10.252.0.2');

      await seed();
      // The product as operators run it: `hangar serve --dhcp IFACE`, alone in its namespace.
      server = await startIn(
        ns.server,
        process.execPath,
        [HANGAR_BIN, 'serve', '--dhcp', link.serverUp, '--listen', '127.0.0.1:8080'],
        { ...process.env, HANGAR_DATA: dir, HANGAR_LOG_LEVEL: 'info' },
        /hangar is serving/,
        20_000,
      );
      // -a adds option 82 (agent circuit and remote id); dhcrelay logs 'Sending on' once its sockets are open.
      relay = await startIn(
        ns.relay,
        DHCRELAY,
        ['-4', '-d', '-a', '-pf', join(dir, 'dhcrelay.pid'), '-iu', link.relayUp, '-id', link.relayA, '-id', link.relayB, '10.252.0.1'],
        process.env,
        /Sending on\s+Socket\/fallback/,
        10_000,
      );
    });

    after(async () => {
      await stop(relay);
      await stop(server);
      for (const name of Object.values(ns)) {
        try {
          run('ip', 'netns', 'del', name);
        } catch {
          // not created
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test('a client on segment A gets a pool address and the options of subnet A', () => {
      const output = udhcpc(ns.a, link.clientA);
      const address = /ip=(10\.252\.1\.(\d+)) router=10\.252\.1\.1 dns=10\.252\.1\.53 domain=segment1\.example/.exec(output);
      assert.ok(address, `${output}\n${server?.output()}\n${relay?.output()}`);
      assert.ok(Number(address[2]) >= 100 && Number(address[2]) <= 150, address[1]);
    });

    test('a client on segment B gets a pool address and the options of subnet B', () => {
      const output = udhcpc(ns.b, link.clientB);
      const address = /ip=(10\.252\.2\.(\d+)) router=10\.252\.2\.1 dns=10\.252\.2\.53 domain=segment2\.example/.exec(output);
      assert.ok(address, `${output}\n${server?.output()}\n${relay?.output()}`);
      assert.ok(Number(address[2]) >= 100 && Number(address[2]) <= 150, address[1]);
    });

    test('both leases are stored against the right MAC', async () => {
      const rows = await leaseRows();
      const byMac = new Map(rows.map((row) => [row.mac, row]));
      assert.match(byMac.get(MAC_A)?.address ?? '', /^10\.252\.1\.1\d\d$/, JSON.stringify(rows));
      assert.match(byMac.get(MAC_B)?.address ?? '', /^10\.252\.2\.1\d\d$/, JSON.stringify(rows));
      assert.equal(byMac.get(MAC_A)?.state, 'bound');
      assert.equal(byMac.get(MAC_B)?.state, 'bound');
    });
  });
}
