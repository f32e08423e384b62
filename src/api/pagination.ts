import type { FastifyRequest } from 'fastify';

/** Builds NetBox's `{count, next, previous, results}` envelope, with next/previous as absolute URLs. */
export function page<T>(
  request: FastifyRequest,
  window: { limit: number; offset: number },
  count: number,
  results: T[],
): { count: number; next: string | null; previous: string | null; results: T[] } {
  const { limit, offset } = window;
  const at = (newOffset: number): string => {
    const url = new URL(request.url, `${request.protocol}://${request.host}`);
    url.searchParams.set('limit', String(limit));
    if (newOffset > 0) url.searchParams.set('offset', String(newOffset));
    else url.searchParams.delete('offset');
    return url.toString();
  };
  return {
    count,
    next: offset + limit < count ? at(offset + limit) : null,
    previous: offset > 0 ? at(Math.max(0, offset - limit)) : null,
    results,
  };
}
