import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './netns.js';

/**
 * The QEMU lab of LAB.md: a namespace with a bridge that Hangar serves on, a tap per VM, VMs whose e1000 NIC ROM
 * is iPXE, and a real Debian kernel with an initrd built here (busybox) that takes a lease and calls back.
 */

/** Where scripts/install-test-deps puts the Debian kernel package (`apt-get download`). */
export const KERNEL_PACKAGE_DIR = '/var/cache/hangar-lab';
export const QEMU = '/usr/bin/qemu-system-x86_64';

export function labSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces';
  if (!existsSync(QEMU)) return 'needs qemu-system-x86 (scripts/install-test-deps)';
  if (!existsSync(KERNEL_PACKAGE_DIR) || !readdirSync(KERNEL_PACKAGE_DIR).some((name) => name.startsWith('linux-image-'))) {
    return `needs a linux-image .deb in ${KERNEL_PACKAGE_DIR} (scripts/install-test-deps)`;
  }
  return false;
}

export interface LabBridge {
  ns: string;
  bridge: string;
  /** The bridge's address, without the prefix length. */
  address: string;
  /** Adds a tap on the bridge for one VM; returns its name. */
  addTap(): string;
  /** Runs a command inside the namespace. */
  exec(...args: string[]): string;
  /** Deletes the namespace with its bridge and taps; never throws. */
  destroy(): void;
}

/** A namespace holding bridge br0 at `address`/24. `tag` keeps parallel runs apart (give it the pid). */
export function createLabBridge(tag: string, address: string): LabBridge {
  const ns = `${tag}-lab`;
  let taps = 0;
  const exec = (...args: string[]) => run('ip', 'netns', 'exec', ns, ...args);
  const lab: LabBridge = {
    ns,
    bridge: 'br0',
    address,
    exec,
    addTap() {
      const tap = `tap${taps++}`;
      exec('ip', 'tuntap', 'add', tap, 'mode', 'tap');
      exec('ip', 'link', 'set', tap, 'master', 'br0');
      exec('ip', 'link', 'set', tap, 'up');
      return tap;
    },
    destroy() {
      try {
        run('ip', 'netns', 'del', ns);
      } catch {
        // never created, or already gone
      }
    },
  };
  try {
    run('ip', 'netns', 'add', ns);
    exec('ip', 'link', 'set', 'lo', 'up');
    exec('ip', 'link', 'add', 'br0', 'type', 'bridge');
    exec('ip', 'addr', 'add', `${address}/24`, 'dev', 'br0');
    exec('ip', 'link', 'set', 'br0', 'up');
  } catch (error) {
    lab.destroy();
    throw error;
  }
  return lab;
}

export interface BootKit {
  kernel: string;
  initrd: string;
}

/**
 * Extracts the Debian kernel and builds an initrd: busybox, the e1000 module, and an init that brings eth0 up,
 * takes a lease with udhcpc, then GETs the URL given as `hangar.callback=` on the kernel command line with the
 * MAC appended, prints the answer, and powers off.
 */
export function buildBootKit(dir: string): BootKit {
  const deb = readdirSync(KERNEL_PACKAGE_DIR).filter((name) => name.startsWith('linux-image-') && name.endsWith('.deb')).sort().at(-1);
  if (!deb) throw new Error(`no linux-image .deb in ${KERNEL_PACKAGE_DIR}`);
  const root = join(dir, 'kernel-root');
  mkdirSync(root, { recursive: true });
  run('dpkg-deb', '-x', join(KERNEL_PACKAGE_DIR, deb), root);
  const kernel = join(root, 'boot', readdirSync(join(root, 'boot')).find((name) => name.startsWith('vmlinuz-'))!);
  const modules = run('find', join(root, 'lib', 'modules'), '-name', 'e1000.ko*').trim().split('\n')[0];
  if (!modules) throw new Error(`no e1000 module in ${deb}`);

  const tree = join(dir, 'initrd-root');
  for (const sub of ['bin', 'lib/modules', 'proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(tree, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(tree, 'bin', 'busybox'));
  copyFileSync(modules, join(tree, 'lib', 'modules', modules.split('/').pop()!));
  writeFileSync(
    join(tree, 'init'),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /lib/modules/*; do case $m in *.xz) xz -dc $m > /tmp/nic.ko; insmod /tmp/nic.ko;; *) insmod $m;; esac; done
ip link set lo up; ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 2 -s /bin/lease-script
callback=$(tr ' ' '\\n' < /proc/cmdline | sed -n 's/^hangar.callback=//p')
mac=$(cat /sys/class/net/eth0/address)
echo "hangar-lab: calling back $callback$mac"
wget -q -O - "$callback$mac" && echo && echo "hangar-lab: callback done"
poweroff -f
`,
  );
  chmodSync(join(tree, 'init'), 0o755);
  writeFileSync(
    join(tree, 'bin', 'lease-script'),
    `#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add $ip/\${mask:-24} dev $interface
[ -n "$router" ] && ip route add default via \${router%% *}
echo "hangar-lab: lease $ip"
`,
  );
  chmodSync(join(tree, 'bin', 'lease-script'), 0o755);
  const initrd = join(dir, 'initrd.gz');
  run('sh', '-c', `cd '${tree}' && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '${initrd}'`);
  return { kernel, initrd };
}

export interface RunningVm {
  child: ChildProcess;
  /** The serial console so far. */
  console(): string;
  /** Waits until the console matches `pattern` (or the VM exits, or `timeoutMs` passes); returns the match. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Ends the VM by its pid and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts a VM in the lab namespace that network-boots with its e1000 iPXE ROM (`-boot n`), serial console to a
 * file. Software emulation: 512 MiB, no KVM needed. `timeoutSeconds` bounds its life whatever happens.
 */
export function startVm(lab: LabBridge, tap: string, mac: string, consolePath: string, timeoutSeconds = 120): RunningVm {
  const out = openSync(consolePath, 'w');
  const child = spawn(
    'ip',
    ['netns', 'exec', lab.ns, 'timeout', String(timeoutSeconds), QEMU, '-nographic', '-m', '512', '-no-reboot',
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `e1000,netdev=n0,mac=${mac}`,
      '-boot', 'n', '-serial', 'mon:stdio', '-display', 'none'],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const consoleText = () => (existsSync(consolePath) ? readFileSync(consolePath, 'latin1') : '');
  return {
    child,
    console: consoleText,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = consoleText().match(pattern);
        if (match) return match;
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`the VM console never showed ${pattern}:\n${consoleText().slice(-3000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
