/**
 * The HTTP side of the boot service, for machines (no token: a booting machine has none):
 *   GET /boot/ipxe/:mac                          its iPXE script, rendered from its profile, listing its site's mirrors
 *   GET /boot/images/:image/:version/:file       a file of an image version, behind the admission gate
 *   GET /boot/files/:file                        boot loaders for UEFI HTTP boot, from DATA/tftp and Debian's iPXE
 *   GET /boot/booted/:mac                        the booted system says it came up
 * Each is a boot event for the machine: by MAC where the request names it, else by the MAC that holds a DHCP
 * lease on the client's address, else by the address.
 */

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { normalizeMac } from '../../core/net/index.js';
import type { Clock } from '../../core/clock.js';
import { EventBatcher } from '../../events/batcher.js';
import type { EventInput, EventLog } from '../../events/log.js';
import type { Store } from '../../store/store.js';
import { leaseHolder } from '../dhcp/lease-store.js';
import { imageFile } from '../images/catalogue.js';
import { PATH_SEGMENT } from '../resources.js';
import { bootFileRoots } from '../tftp/boot-tftp.js';
import { TftpRoots } from '../tftp/roots.js';
import type { AdmissionGate } from './admission.js';
import { bootTargetFor } from './boot-target.js';
import { serveFile } from './file-response.js';
import { renderIpxeScript } from './ipxe-script.js';
import { InventoryCache } from './inventory-cache.js';

export interface BootRoutesOptions {
  store: Store;
  events: EventLog;
  clock: Clock;
  /** The data directory: images under DATA/images, boot loaders under DATA/tftp. */
  dataDir: string;
  /** Bounds the image transfers at once (`hangar serve --max-image-transfers`). */
  gate: AdmissionGate;
}

/**
 * How long a client that does not retry by itself (anything but iPXE: live-boot's wget fetching the root
 * filesystem) waits in line for a transfer slot.
 */
const QUEUE_WAIT_MS = 10 * 60_000;

/** A machine's script as rendered from the inventory, with the names its boot event carries. */
interface RenderedScript {
  script: string;
  about: { device: string | null; profile: string | null; image: string | null };
}

const MachineMac = Type.Object({ mac: Type.String({ maxLength: 32 }) });

export const bootRoutes: FastifyPluginAsyncTypebox<BootRoutesOptions> = async (app, options) => {
  const { store, events, gate } = options;
  const db = store.db as unknown as Kysely<unknown>;
  const bootDir = join(options.dataDir, 'tftp');
  await mkdir(bootDir, { recursive: true });
  const bootFiles = await TftpRoots.open(bootFileRoots(bootDir));
  const imagesDir = join(options.dataDir, 'images');

  // Script renders run to thousands a second in a boot storm: their events go to the store in batches.
  const batcher = new EventBatcher(store, events, options.clock, { log: (message, fields) => app.log.warn(fields, message) });
  app.addHook('onClose', () => batcher.close());
  const record = (input: EventInput) => batcher.add(input);
  /** A boot event about the machine at the request's client address. */
  const recordForClient = (client: string, input: Omit<EventInput, 'subject' | 'actor'>) => {
    leaseHolder(db, client).then(
      (mac) => record({ ...input, subject: mac ?? client, actor: 'boot', data: { ...input.data, client } }),
      (error: unknown) => app.log.warn({ error: String(error) }, 'boot event not recorded'),
    );
  };

  const scripts = new InventoryCache<RenderedScript>(() => auditGeneration(db), options.clock);

  /** The script of `mac` asking from `client` through `host`, and what its boot event says. */
  const renderScript = async (mac: string, client: string, host: string): Promise<RenderedScript> => {
    const target = await bootTargetFor(db, mac, client);
    const about = { device: target.device?.name ?? null, profile: target.profile?.name ?? null, image: target.profile?.image ? `${target.profile.image.name}@${target.profile.image.version}` : null };
    if (target.profile === null) return { script: '#!ipxe\necho Hangar has no profile for ${net0/mac} and no discovery profile\nexit 1\n', about };
    if (target.profile.boot === 'local' || target.profile.image === null) return { script: renderIpxeScript({ mac, boot: 'local' }), about };
    const { image } = target.profile;
    const path = (file: string) => `boot/images/${encodeURIComponent(image.name)}/${encodeURIComponent(image.version)}/${file}`;
    const script = renderIpxeScript({
      mac,
      boot: 'image',
      kernel: path(image.kernel),
      initrd: path(image.initrd),
      ...(image.rootfs ? { rootfs: { file: path(image.rootfs) } } : {}),
      kernelArgs: target.profile.kernelArgs,
      extraKernelArgs: [],
      // A site without mirrors boots from the server the machine reached.
      mirrors: target.mirrors.length > 0 ? target.mirrors : [`http://${host}`],
    });
    return { script, about };
  };

  app.get(
    '/boot/ipxe/:mac',
    {
      config: { access: 'public' },
      schema: { tags: ['boot'], summary: 'The iPXE script of the machine with this MAC', params: MachineMac },
    },
    async (request, reply) => {
      const mac = normalizeMac(request.params.mac, 'mac');
      const client = request.ip;
      const host = request.headers.host ?? request.hostname;
      const { script, about } = await scripts.get(`${mac} ${client} ${host}`, () => renderScript(mac, client, host));
      record({ type: 'boot.script', subject: mac, actor: 'boot', data: { ...about, client } });
      return reply.type('text/plain; charset=utf-8').send(script);
    },
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: '/boot/images/:image/:version/:file',
    config: { access: 'public' },
    schema: {
      tags: ['boot'],
      summary: 'A file of an image version (Range, ETag; beyond the transfer limit iPXE gets 503 with Retry-After, other clients wait in line)',
      params: Type.Object({ image: Type.String({ pattern: PATH_SEGMENT }), version: Type.String({ pattern: PATH_SEGMENT }), file: Type.String({ pattern: PATH_SEGMENT }) }),
    },
    handler: async (request, reply) => {
      const { image, version, file } = request.params;
      // Taken now: once the client has gone, its socket no longer knows the address.
      const client = request.ip;
      const name = `${image}/${version}/${file}`;
      const declared = await imageFile(db, image, version, file);
      const path = join(imagesDir, image, version, file);
      const stats = declared ? await stat(path).catch(() => null) : null;
      if (!declared || !stats?.isFile()) return reply.code(404).type('text/plain').send(`no file ${file} in image ${image}@${version}\n`);
      // iPXE retries a 503 by itself after Retry-After; live-boot's one wget does not, so it waits in line.
      const retriesItself = /^iPXE\//.test(request.headers['user-agent'] ?? '');
      const gone = new AbortController();
      request.raw.once('close', () => gone.abort());
      const admission = retriesItself ? gate.tryAcquire() : await gate.acquire(QUEUE_WAIT_MS, gone.signal);
      if (!admission.admitted) {
        recordForClient(client, { type: 'boot.refused', data: { protocol: 'http', file: name, retry_after: admission.retryAfterSeconds, in_flight: gate.inFlight, queued: gate.queued } });
        return reply.code(503).header('retry-after', String(admission.retryAfterSeconds)).type('text/plain').send('too many image transfers at once; retry later\n');
      }
      reply.hijack();
      serveFile(request.raw, reply.raw, { path, size: stats.size, mtimeMs: stats.mtimeMs, ...(declared.sha256 ? { sha256: declared.sha256 } : {}) }, (result) => {
        admission.release();
        if (request.method === 'HEAD') return;
        recordForClient(client, {
          type: 'boot.file',
          data: { protocol: 'http', file: name, status: result.status, bytes: result.bytes, duration_ms: Math.round(result.durationMs), aborted: result.aborted },
        });
      });
      return reply;
    },
  });

  app.get(
    '/boot/files/:file',
    {
      config: { access: 'public' },
      schema: { tags: ['boot'], summary: 'A boot loader for UEFI HTTP boot (DATA/tftp, then Debian’s iPXE binaries)', params: Type.Object({ file: Type.String({ pattern: PATH_SEGMENT }) }) },
    },
    async (request, reply) => {
      const { file } = request.params;
      const client = request.ip;
      const lookup = await bootFiles.lookup(file, 'octet');
      if (lookup.kind !== 'found') {
        recordForClient(client, { type: 'boot.refused', data: { protocol: 'http', file, reason: lookup.kind === 'refused' ? lookup.reason : 'not-found' } });
        return reply.code(404).type('text/plain').send(`no boot file ${file}\n`);
      }
      try {
        const body = await lookup.file.read(0, lookup.file.size);
        recordForClient(client, { type: 'boot.file', data: { protocol: 'http', file, status: 200, bytes: body.length } });
        return reply.type('application/octet-stream').send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      } finally {
        await lookup.file.close();
      }
    },
  );

  app.get(
    '/boot/booted/:mac',
    {
      config: { access: 'public' },
      schema: { tags: ['boot'], summary: 'Called by a booted system: records that the machine came up', params: MachineMac },
    },
    async (request) => {
      const mac = normalizeMac(request.params.mac, 'mac');
      record({ type: 'boot.booted', subject: mac, actor: 'boot', data: { client: request.ip, user_agent: request.headers['user-agent'] ?? null } });
      return { mac, recorded: true };
    },
  );
};

/** The audit chain's head: it moves with every inventory write, in any process. */
async function auditGeneration(database: Kysely<unknown>): Promise<number> {
  const db = database as Kysely<{ audit_head: { id: number; last_id: number | string } }>;
  const head = await db.selectFrom('audit_head').select('last_id').where('id', '=', 1).executeTakeFirst();
  return Number(head?.last_id ?? 0);
}
