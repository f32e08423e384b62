import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { InvalidError } from '../core/errors.js';
import type { RepositoryFile } from './document.js';
import type { FleetOrigin } from './service.js';

const run = promisify(execFile);

/** A repository of this size is a mistake, not a fleet (10,000 devices take about 5 MB). */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/** Every `*.yaml` / `*.yml` file under `dir` (dot-directories such as `.git` aside), with `/`-separated paths. */
export async function repositoryFiles(dir: string, option = '--repo'): Promise<RepositoryFile[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new InvalidError(`${option} ${dir}: not a directory`);
  const files: RepositoryFile[] = [];
  let total = 0;
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) {
        const content = await readFile(path, 'utf8');
        total += content.length;
        if (total > MAX_TOTAL_BYTES) throw new InvalidError(`${option} ${dir}: more than ${MAX_TOTAL_BYTES / 1024 / 1024} MB of YAML`);
        files.push({ path: relative(dir, path).split(sep).join('/'), content });
      }
    }
  };
  await walk(dir);
  if (files.length === 0) throw new InvalidError(`${option} ${dir}: no .yaml or .yml files`);
  return files;
}

/** The commit and author of a git work tree (marked `+dirty` when it has uncommitted changes); empty otherwise. */
export async function gitOrigin(dir: string): Promise<FleetOrigin> {
  try {
    const { stdout } = await run('git', ['-C', dir, 'log', '-1', '--format=%H%n%an <%ae>']);
    const [commit, author] = stdout.trim().split('\n');
    const { stdout: status } = await run('git', ['-C', dir, 'status', '--porcelain', '--', '.']);
    const { stdout: top } = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel']);
    return { commit: status.trim() === '' ? commit : `${commit}+dirty`, author, repository: top.trim() };
  } catch {
    return {};
  }
}

/** A clone that follows one branch of a repository (a local path or a URL git can reach). */
export class GitMirror {
  constructor(
    private readonly source: string,
    private readonly branch: string,
    readonly workTree: string,
  ) {}

  /** Fetches the branch; returns its newest commit, checked out in the work tree. */
  async update(): Promise<{ commit: string; author: string }> {
    const exists = await stat(join(this.workTree, '.git')).catch(() => null);
    if (!exists) await run('git', ['clone', '--quiet', '--no-checkout', '--branch', this.branch, '--single-branch', this.source, this.workTree]);
    else await run('git', ['-C', this.workTree, 'fetch', '--quiet', 'origin', `+refs/heads/${this.branch}:refs/remotes/origin/${this.branch}`]);
    const { stdout } = await run('git', ['-C', this.workTree, 'rev-parse', `refs/remotes/origin/${this.branch}`]);
    const commit = stdout.trim();
    await run('git', ['-C', this.workTree, 'checkout', '--quiet', '--force', '--detach', commit]);
    const { stdout: author } = await run('git', ['-C', this.workTree, 'log', '-1', '--format=%an <%ae>', commit]);
    return { commit, author: author.trim() };
  }
}
