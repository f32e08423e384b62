import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes a generated fleet repository: `devices` servers over two sites, each with two interfaces and one
 * address, plus the organisation they need. Used by the fleet tests and bench/plan.
 */
export function writeGeneratedFleet(dir: string, devices: number): void {
  mkdirSync(join(dir, 'devices'), { recursive: true });
  writeFileSync(
    join(dir, 'organisation.yaml'),
    `tenants:
  - { slug: acme, name: Acme }
  - { slug: globex, name: Globex }
tags:
  - { slug: prod, name: Production }
manufacturers:
  - { slug: dell, name: Dell }
models:
  - { slug: r650, manufacturer: dell, model: PowerEdge R650 }
roles:
  - { slug: compute, name: Compute }
  - { slug: storage, name: Storage }
sites:
  - { slug: s1, name: Site 1 }
  - { slug: s2, name: Site 2 }
racks:
${Array.from({ length: Math.ceil(devices / 40) }, (_, r) => `  - { site: s${(r % 2) + 1}, name: r${r} }`).join('\n')}
prefixes:
  - { prefix: 10.0.0.0/8 }
`,
  );
  const perFile = 1000;
  for (let file = 0; file * perFile < devices; file++) {
    const lines = ['devices:'];
    for (let i = file * perFile; i < Math.min(devices, (file + 1) * perFile); i++) {
      const rack = Math.floor(i / 40);
      const mac = (n: number) => [0x52, 0x54, (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0')).join(':');
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/8`;
      lines.push(
        `  - name: node${i}`,
        `    site: s${(rack % 2) + 1}`,
        `    rack: r${rack}`,
        `    position: ${(i % 40) + 1}`,
        `    model: r650`,
        `    role: ${i % 3 === 0 ? 'storage' : 'compute'}`,
        `    tenant: ${i % 2 === 0 ? 'acme' : 'globex'}`,
        `    tags: [prod]`,
        `    interfaces:`,
        `      - name: eno1`,
        `        mac: ${mac(2 * i + 1)}`,
        `        addresses: [{ address: ${address}, primary: true }]`,
        `      - name: ipmi`,
        `        mac: ${mac(2 * i + 2)}`,
        `        mgmt_only: true`,
      );
    }
    writeFileSync(join(dir, 'devices', `part${String(file).padStart(3, '0')}.yaml`), `${lines.join('\n')}\n`);
  }
}
