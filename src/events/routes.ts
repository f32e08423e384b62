import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { InvalidError } from '../core/errors.js';
import { strictObject } from '../api/schemas.js';
import type { EventLog, HangarEvent } from './log.js';

const EventSchema = Type.Object({
  id: Type.Integer(),
  time: Type.String({ format: 'date-time' }),
  type: Type.String(),
  subject: Type.String(),
  actor: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
});

const TypeFilter = Type.String({ pattern: '^[a-z0-9_.]+(\\.\\*)?$', description: 'Exact type, or a prefix ending in .* (dhcp.*)' });
const tags = ['events'];
const BATCH = 500;

export interface EventStreamOptions {
  events: EventLog;
  /** How often a stream looks for events committed by other processes. */
  pollMs: number;
  heartbeatMs: number;
}

function lastEventId(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header[0] : header;
  if (!text || !/^\d+$/.test(text)) throw new InvalidError(`Last-Event-ID: '${String(text)}' is not an event id`, 'headers.last-event-id');
  return Number(text);
}

function frame(event: HangarEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export const eventRoutes: FastifyPluginAsyncTypebox<EventStreamOptions> = async (app, { events, pollMs, heartbeatMs }) => {
  app.get(
    '/api/events/',
    {
      schema: {
        tags,
        summary: 'Events: newest first, or oldest first after a given id',
        querystring: strictObject({
          after: Type.Optional(Type.Integer({ minimum: 0, description: 'Only events with a larger id, oldest first' })),
          type: Type.Optional(TypeFilter),
          subject: Type.Optional(Type.String()),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        }),
        response: { 200: Type.Object({ results: Type.Array(EventSchema) }) },
      },
    },
    async (request) => {
      const { after, type, subject, limit = 100 } = request.query;
      return { results: await events.list({ afterId: after, type, subject, limit }) };
    },
  );

  const closers = new Set<() => void>();
  // Streams never end on their own; end them before the server waits for its connections to close.
  app.addHook('preClose', async () => {
    for (const close of closers) close();
  });

  app.get(
    '/api/events/stream',
    {
      schema: {
        tags,
        summary: 'Server-Sent Events; resumes after the Last-Event-ID header (or ?after=), else starts at new events',
        querystring: strictObject({ after: Type.Optional(Type.Integer({ minimum: 0 })), type: Type.Optional(TypeFilter) }),
      },
    },
    async (request, reply) => {
      const { type } = request.query;
      let cursor = lastEventId(request.headers['last-event-id']) ?? request.query.after;
      if (cursor === undefined) cursor = (await events.list({ limit: 1 }))[0]?.id ?? 0;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-request-id': request.id,
      });
      res.write('retry: 2000\n\n');

      let open = true;
      let wake: (() => void) | null = null;
      const close = () => {
        open = false;
        wake?.();
      };
      closers.add(close);
      request.raw.on('close', close);
      const unsubscribe = events.onAppended(() => wake?.());
      let lastWrite = Date.now();
      try {
        while (open) {
          const batch = await events.list({ afterId: cursor, type, limit: BATCH });
          for (const event of batch) {
            res.write(frame(event));
            cursor = event.id;
          }
          if (batch.length > 0) lastWrite = Date.now();
          if (batch.length === BATCH) continue;
          if (Date.now() - lastWrite >= heartbeatMs) {
            res.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
      } catch (error) {
        request.log.error({ err: error }, 'event stream failed');
      } finally {
        unsubscribe();
        closers.delete(close);
        res.end();
      }
    },
  );
};
