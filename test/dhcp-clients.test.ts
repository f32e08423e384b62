/**
 * The DHCP server against real clients (busybox udhcpc, ISC dhclient) over a veth pair between two network
 * namespaces, with reservations and subnets from a real store. Needs root; skipped otherwise.
 * The server runs in its namespace as test/lab/dhcp-server-process.ts.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storedLeases } from './lab/dhcp-leases.js';
import { seedStore } from './lab/seed.js';

const DHCP_SERVER_SCRIPT = fileURLToPath(new URL('./lab/dhcp-server-process.js', import.meta.url));

{
  const isRoot = process.getuid?.() === 0;
  const tag = `hgd-${process.pid}`;
  const serverNs = `${tag}-s`;
  const clientNs = `${tag}-c`;
  const serverIf = `hgs${process.pid}`.slice(0, 15);
  const clientIf = `hgc${process.pid}`.slice(0, 15);
  const RESERVED_MAC = '02:00:0a:fb:00:14';
  const UNKNOWN_MAC = '02:00:0a:fb:00:99';

  const run = (...args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 30_000 });
  const inClient = (...args: string[]): string => run('ip', 'netns', 'exec', clientNs, ...args);

  describe('DHCP server with real clients', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
    let dir = '';
    let server: ChildProcess | null = null;
    let serverOutput = '';
    const dhclientPids: number[] = [];

    async function seed(): Promise<void> {
      await seedStore(dir, async (create) => {
        const site = await create('dcim.site', { name: 'Lab', slug: 'lab' });
        const manufacturer = await create('dcim.manufacturer', { name: 'Acme', slug: 'acme' });
        const deviceType = await create('dcim.devicetype', { manufacturer, model: 'X1', slug: 'x1' });
        const role = await create('dcim.devicerole', { name: 'Server', slug: 'server' });
        const device = await create('dcim.device', { name: 'node-20', device_type: deviceType, role, site });
        const iface = await create('dcim.interface', { device, name: 'eth0', type: '1000base-t', mac_address: RESERVED_MAC });
        await create('ipam.ipaddress', { address: '10.251.0.20/24', assigned_object_type: 'dcim.interface', assigned_object_id: iface });
        await create('boot.subnet', {
          name: 'lab',
          prefix: '10.251.0.0/24',
          pools: ['10.251.0.100-10.251.0.150'],
          router: '10.251.0.1',
          dns_servers: ['10.251.0.1'],
          domain_name: 'lab.example',
        });
      });
    }

    async function startServer(): Promise<void> {
      const child = spawn('ip', ['netns', 'exec', serverNs, process.execPath, DHCP_SERVER_SCRIPT, dir, serverIf], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server = child;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${serverOutput}`)), 20_000);
        child.stdout.on('data', (chunk: Buffer) => {
          serverOutput += chunk.toString();
          if (serverOutput.includes('ready\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
        child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${serverOutput}`)));
      });
    }

    async function stopServer(): Promise<void> {
      const child = server;
      if (child === null || child.exitCode !== null) return;
      server = null;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // `ip netns exec` execs node in place, so this pid is the server's.
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer); // a pending timer would hold the test process open
      if (child.exitCode === null) child.kill('SIGKILL');
    }

    const leaseRows = () => storedLeases(dir);

    /** A dhclient hook that configures the address (so RELEASE can be sent from it) and records what it got. */
    function dhclientScript(out: string): string {
      const path = join(dir, `dhclient-script-${out.split('/').pop()}`);
      writeFileSync(
        path,
        [
          '#!/bin/sh',
          'case "$reason" in',
          'BOUND|RENEW|REBIND|REBOOT)',
          '  ip addr flush dev "$interface" scope global',
          '  ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"',
          `  echo "ip=$new_ip_address router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name host=$new_host_name" >> ${out} ;;`,
          'RELEASE|STOP|EXPIRE|FAIL) ip addr flush dev "$interface" scope global ;;',
          'esac',
          'exit 0',
          '',
        ].join('\n'),
      );
      chmodSync(path, 0o755);
      return path;
    }

    /** dhclient -1 until bound; it forks and stays as a daemon, whose pid is returned. */
    function dhclientBind(name: string): { pid: number; got: string; lease: string; pidFile: string; script: string } {
      const lease = join(dir, `${name}.leases`);
      const pidFile = join(dir, `${name}.pid`);
      const out = join(dir, `${name}.out`);
      const script = dhclientScript(out);
      inClient('dhclient', '-1', '-v', '-lf', lease, '-pf', pidFile, '-sf', script, clientIf);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      dhclientPids.push(pid);
      return { pid, got: readFileSync(out, 'utf8'), lease, pidFile, script };
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hangar-dhcp-'));
      run('ip', 'netns', 'add', serverNs);
      run('ip', 'netns', 'add', clientNs);
      run('ip', 'link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf);
      run('ip', 'link', 'set', serverIf, 'netns', serverNs);
      run('ip', 'link', 'set', clientIf, 'netns', clientNs);
      run('ip', 'netns', 'exec', serverNs, 'ip', 'addr', 'add', '10.251.0.1/24', 'dev', serverIf);
      run('ip', 'netns', 'exec', serverNs, 'ip', 'link', 'set', serverIf, 'up');
      run('ip', 'netns', 'exec', serverNs, 'ip', 'link', 'set', 'lo', 'up');
      inClient('ip', 'link', 'set', clientIf, 'address', RESERVED_MAC);
      inClient('ip', 'link', 'set', clientIf, 'up');
      inClient('ip', 'link', 'set', 'lo', 'up');
      await seed();
      await startServer();
    });

    after(async () => {
      for (const pid of dhclientPids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone (released)
        }
      }
      await stopServer();
      for (const ns of [serverNs, clientNs]) {
        try {
          run('ip', 'netns', 'del', ns);
        } catch {
          // not created
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test('udhcpc gets the reserved address and the subnet options', () => {
      const script = join(dir, 'udhcpc-script');
      writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip router=$router dns=$dns domain=$domain hostname=$hostname"\nexit 0\n');
      chmodSync(script, 0o755);
      const output = inClient('udhcpc', '-i', clientIf, '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script);
      assert.match(output, /ip=10\.251\.0\.20 router=10\.251\.0\.1 dns=10\.251\.0\.1 domain=lab\.example hostname=node-20/);
    });

    test('dhclient gets the reserved address, and its release is stored', async () => {
      const bound = dhclientBind('reserved');
      assert.match(bound.got, /ip=10\.251\.0\.20 router=10\.251\.0\.1 dns=10\.251\.0\.1 domain=lab\.example/);
      let rows = await leaseRows();
      assert.deepEqual(
        rows.find((row) => row.address === '10.251.0.20'),
        { address: '10.251.0.20', mac: RESERVED_MAC, state: 'bound', hostname: 'node-20' },
      );
      // -r releases and ends the daemon of this lease file.
      inClient('dhclient', '-r', '-v', '-lf', bound.lease, '-pf', bound.pidFile, '-sf', bound.script, clientIf);
      for (let attempt = 0; attempt < 50; attempt++) {
        rows = await leaseRows();
        if (rows.find((row) => row.address === '10.251.0.20')?.state === 'released') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(rows.find((row) => row.address === '10.251.0.20')?.state, 'released');
    });

    test('an unknown MAC gets a pool address, stored as bound', async () => {
      inClient('ip', 'link', 'set', clientIf, 'address', UNKNOWN_MAC);
      const bound = dhclientBind('pool');
      const address = /ip=(\S+) router=10\.251\.0\.1 dns=10\.251\.0\.1 domain=lab\.example/.exec(bound.got)?.[1];
      assert.ok(address, bound.got);
      const last = Number(address.split('.')[3]);
      assert.ok(address.startsWith('10.251.0.') && last >= 100 && last <= 150, address);
      const row = (await leaseRows()).find((candidate) => candidate.address === address);
      // The hostname column holds what the client sent (dhclient sends the system's name), so it is not compared.
      assert.deepEqual({ mac: row?.mac, state: row?.state }, { mac: UNKNOWN_MAC, state: 'bound' });
    });

    test('the server counted what it did', async () => {
      await stopServer();
      const counters = JSON.parse(/counters (.*)/.exec(serverOutput)?.[1] ?? '{}') as { replied?: number; commits?: number };
      assert.ok((counters.replied ?? 0) >= 6, serverOutput);
      assert.ok((counters.commits ?? 0) >= 3, serverOutput);
    });
  });
}
