/**
 * The HTTP side of the boot service, for machines (no token: a booting machine has none):
 *   GET /boot/ipxe/:mac                          its iPXE script, rendered from its profile
 *   GET /boot/images/:image/:version/:file       image files from DATA/images, behind the admission gate
 *   GET /boot/booted/:mac                        the booted system says it came up
 * Each is a boot event for the machine.
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { Clock } from '../../core/clock.js';
import { normalizeMac } from '../../core/net/index.js';
import type { EventInput, EventLog } from '../../events/log.js';
import type { Store } from '../../store/store.js';
import { AdmissionGate } from './admission.js';
import { bootTargetFor } from './boot-target.js';
import { serveFile } from './file-response.js';
import { renderIpxeScript } from './ipxe-script.js';

export interface BootRoutesOptions {
  store: Store;
  events: EventLog;
  clock: Clock;
  /** DATA/images: one directory per image and version. */
  imagesDir: string;
  /** Image transfers at once before 503 with Retry-After. */
  maxTransfers: number;
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9._+-]*$';
const MachineMac = Type.Object({ mac: Type.String({ maxLength: 32 }) });

export const bootRoutes: FastifyPluginAsyncTypebox<BootRoutesOptions> = async (app, options) => {
  const { store, events } = options;
  const gate = new AdmissionGate({ limit: options.maxTransfers, retryAfterSeconds: { min: 1, max: 10 }, random: Math.random, clock: options.clock });
  const record = (input: EventInput) => {
    events.record(store, input).catch((error: unknown) => app.log.warn({ error: String(error), type: input.type }, 'boot event not recorded'));
  };

  app.get(
    '/boot/ipxe/:mac',
    {
      config: { access: 'public' },
      schema: { tags: ['boot'], summary: 'The iPXE script of the machine with this MAC', params: MachineMac },
    },
    async (request, reply) => {
      const mac = normalizeMac(request.params.mac, 'mac');
      const target = await bootTargetFor(store.db as unknown as Kysely<unknown>, mac);
      const base = `http://${request.headers.host ?? request.hostname}`;
      let script: string;
      if (target.profile === null) {
        script = '#!ipxe\necho Hangar has no profile for ${net0/mac} and no discovery profile\nexit 1\n';
      } else if (target.profile.boot === 'local' || target.profile.image === null) {
        script = renderIpxeScript({ mac, boot: 'local' });
      } else {
        const { image } = target.profile;
        const path = (file: string) => `boot/images/${encodeURIComponent(image.name)}/${encodeURIComponent(image.version)}/${file}`;
        script = renderIpxeScript({
          mac,
          boot: 'image',
          kernel: path(image.kernel),
          initrd: path(image.initrd),
          ...(image.rootfs ? { rootfs: { file: path(image.rootfs) } } : {}),
          kernelArgs: target.profile.kernelArgs,
          extraKernelArgs: [],
          // The server the machine reached is its only mirror until sites list image servers.
          mirrors: [base],
        });
      }
      record({
        type: 'boot.script',
        subject: mac,
        actor: 'boot',
        data: { device: target.device?.name ?? null, profile: target.profile?.name ?? null, image: target.profile?.image ? `${target.profile.image.name}@${target.profile.image.version}` : null, client: request.ip },
      });
      return reply.type('text/plain; charset=utf-8').send(script);
    },
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: '/boot/images/:image/:version/:file',
    config: { access: 'public' },
    schema: {
      tags: ['boot'],
      summary: 'A file of an image version (Range, ETag; 503 with Retry-After beyond the transfer limit)',
      params: Type.Object({ image: Type.String({ pattern: NAME }), version: Type.String({ pattern: NAME }), file: Type.String({ pattern: NAME }) }),
    },
    handler: async (request, reply) => {
      const { image, version, file } = request.params;
      const path = join(options.imagesDir, image, version, file);
      const stats = await stat(path).catch(() => null);
      if (!stats?.isFile()) return reply.code(404).type('text/plain').send(`no file ${file} in image ${image}@${version}\n`);
      const admission = gate.tryAcquire();
      if (!admission.admitted) {
        record({ type: 'boot.refused', subject: request.ip, actor: 'boot', data: { protocol: 'http', file: `${image}/${version}/${file}`, retry_after: admission.retryAfterSeconds, in_flight: gate.inFlight } });
        return reply.code(503).header('retry-after', String(admission.retryAfterSeconds)).type('text/plain').send('too many image transfers at once; retry later\n');
      }
      reply.hijack();
      serveFile(request.raw, reply.raw, { path, size: stats.size, mtimeMs: stats.mtimeMs }, (result) => {
        admission.release();
        if (request.method === 'HEAD') return;
        record({
          type: 'boot.file',
          subject: request.ip,
          actor: 'boot',
          data: { protocol: 'http', file: `${image}/${version}/${file}`, status: result.status, bytes: result.bytes, duration_ms: Math.round(result.durationMs), aborted: result.aborted },
        });
      });
      return reply;
    },
  });

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
