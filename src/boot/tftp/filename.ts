/**
 * Turns the file name of an RRQ into a path relative to the TFTP root, or refuses it. Pure: the server joins
 * the result to its root and still opens it without following links out of the root.
 *
 * A leading `/` means the TFTP root (as tftp-hpa does with --secure), because DHCP configurations commonly say
 * `/pxelinux.0`. Windows PXE clients use `\` as the separator, so it is read as `/` before any check.
 */

export type RequestPathRefusal = 'empty' | 'nul-byte' | 'control-character' | 'parent-segment' | 'drive-letter';

export type RequestPathResolution =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: RequestPathRefusal };

// C0 controls and DEL have no place in a boot file name and would garble logs.
const CONTROL_CHARACTER = /[\u0001-\u001f\u007f]/;
const DRIVE_LETTER = /^[A-Za-z]:/;

export function resolveRequestPath(requested: string): RequestPathResolution {
  if (requested.includes('\0')) return { ok: false, reason: 'nul-byte' };
  if (CONTROL_CHARACTER.test(requested)) return { ok: false, reason: 'control-character' };
  const slashed = requested.replaceAll('\\', '/');
  const segments = slashed.split('/').filter((segment) => segment !== '' && segment !== '.');
  // Checked after dropping leading slashes, so `\C:\x` is refused as well and resolving stays idempotent.
  if (DRIVE_LETTER.test(segments[0] ?? '')) return { ok: false, reason: 'drive-letter' };
  // Any `..` is refused, even one that would stay inside the root: no legitimate boot file needs it.
  if (segments.includes('..')) return { ok: false, reason: 'parent-segment' };
  if (segments.length === 0) return { ok: false, reason: 'empty' };
  return { ok: true, path: segments.join('/') };
}

/** One place to look for a requested file: a path relative to roots[root]. */
export interface RootCandidate {
  readonly root: number;
  readonly path: string;
}

export type RequestCandidates =
  | { readonly ok: true; readonly candidates: readonly RootCandidate[] }
  | { readonly ok: false; readonly reason: RequestPathRefusal };

/**
 * Where to look for a request, in order: its path under each root (a leading `/` means the root), then, for an
 * absolute name that spells out a path inside a root (`/srv/tftp/x` with root `/srv/tftp`, as dnsmasq accepts), the
 * rest of it under that root. `roots` are absolute and normalised (no trailing `/`, no `.` or `..`).
 */
export function requestCandidates(requested: string, roots: readonly string[]): RequestCandidates {
  const resolution = resolveRequestPath(requested);
  if (!resolution.ok) return resolution;
  const candidates: RootCandidate[] = roots.map((_, root) => ({ root, path: resolution.path }));
  if (/^[/\\]/.test(requested)) {
    const absolute = `/${resolution.path}`;
    roots.forEach((rootPath, root) => {
      const prefix = rootPath.endsWith('/') ? rootPath : `${rootPath}/`;
      if (!absolute.startsWith(prefix) || absolute.length === prefix.length) return;
      const path = absolute.slice(prefix.length);
      if (path !== resolution.path) candidates.push({ root, path });
    });
  }
  return { ok: true, candidates };
}
