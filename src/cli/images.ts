import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { InvalidError } from '../core/errors.js';
import { clientConfigFrom, HangarClient } from './client.js';
import { printRows } from './output.js';

/** `hangar images`: the image catalogue, through the API. */

interface ImageAddOptions {
  kernel: string;
  initrd: string;
  rootfs?: string;
  description?: string;
  json?: boolean;
}

interface Registered {
  role: string;
  file: string;
  size: number;
  sha256: string;
}

type ApiObject = Record<string, unknown> & { id: number };

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Creates the image and version when missing and registers each file. The files are checked and hashed before
 * anything is created, and the server verifies each upload against that hash.
 */
async function addImage(image: string, version: string, options: ImageAddOptions): Promise<void> {
  const files: Array<[role: string, path: string]> = [['kernel', options.kernel], ['initrd', options.initrd]];
  if (options.rootfs) files.push(['rootfs', options.rootfs]);
  const hashes = new Map<string, string>();
  for (const [role, path] of files) {
    const stats = await stat(path).catch(() => null);
    if (!stats?.isFile()) throw new InvalidError(`--${role}: ${path} is not a file`, role);
    hashes.set(role, await sha256Of(path));
  }
  const api = new HangarClient(clientConfigFrom(process.env));
  const [existingImage] = await api.list<ApiObject>('/api/boot/images/', [['name', image]]);
  const imageId = existingImage?.id ?? (await api.post<ApiObject>('/api/boot/images/', { name: image, description: options.description ?? '' })).id;
  const names = Object.fromEntries(files.map(([role, path]) => [role, basename(path)]));
  const [existingVersion] = await api.list<ApiObject>('/api/boot/image-versions/', [['image_id', String(imageId)], ['version', version]]);
  if (existingVersion) {
    for (const [role, name] of Object.entries(names)) {
      if (existingVersion[role] !== name) {
        throw new InvalidError(`--${role}: ${image}@${version} names its ${role} '${String(existingVersion[role])}', not '${name}'; a version's files keep their names`, role);
      }
    }
  }
  const versionId =
    existingVersion?.id ??
    (await api.post<ApiObject>('/api/boot/image-versions/', { image: imageId, version, kernel: names.kernel, initrd: names.initrd, rootfs: names.rootfs ?? '' })).id;
  const registered: Registered[] = [];
  for (const [role, path] of files) {
    registered.push(await api.putFile<Registered>(`/api/boot/image-versions/${versionId}/files/${role}`, [['sha256', hashes.get(role)!]], path));
  }
  printRows(registered, [['role', (r) => r.role], ['file', (r) => r.file], ['size', (r) => r.size], ['sha256', (r) => r.sha256]], options.json === true);
}

export function registerImageCommands(program: Command): void {
  const images = program.command('images').description('the boot image catalogue (through the API)');
  images
    .command('add')
    .description(
      'register an image version from local files: creates the image and version when missing, uploads each file, and has the server verify its sha256. ' +
        'Talks to `hangar serve` at HANGAR_URL with the API token in HANGAR_TOKEN.',
    )
    .argument('<image>', 'image name, e.g. debian-live')
    .argument('<version>', 'version, e.g. 2026.11.2')
    .requiredOption('--kernel <file>', 'the kernel')
    .requiredOption('--initrd <file>', 'the initrd')
    .option('--rootfs <file>', 'a live-boot root filesystem (squashfs)')
    .option('--description <text>', 'description of a new image')
    .option('--json', 'print the registered files as JSON')
    .action((image: string, version: string, options: ImageAddOptions) => addImage(image, version, options));
}
