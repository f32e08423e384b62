import { join } from 'node:path';
import type { Principal } from '../auth/principal.js';
import type { Clock } from '../core/clock.js';
import { repositoryFiles, type GitMirror } from './files.js';
import type { Plan, PlannedChange } from './plan.js';
import type { FleetService } from './service.js';

export interface SyncStatus {
  repository: string;
  branch: string;
  interval_seconds: number;
  /** The newest commit seen on the branch. */
  last_commit: string | null;
  /** The newest commit applied without error. */
  applied_commit: string | null;
  last_attempt: string | null;
  last_error: string | null;
  last_result: Plan['summary'] | null;
  drift: PlannedChange[];
}

/**
 * A GitOps loop: follows a branch and applies each new commit, deleting only when the repository's own settings
 * allow it. A failed commit is retried on the next tick; its error stays visible until a commit applies.
 */
export class FleetSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private state: Omit<SyncStatus, 'drift'>;

  constructor(
    private readonly fleet: FleetService,
    private readonly mirror: GitMirror,
    private readonly options: { repository: string; branch: string; directory: string; intervalMs: number; clock: Clock; log: (message: string, fields: Record<string, unknown>) => void },
  ) {
    this.state = {
      repository: options.repository,
      branch: options.branch,
      interval_seconds: options.intervalMs / 1000,
      last_commit: null,
      applied_commit: null,
      last_attempt: null,
      last_error: null,
      last_result: null,
    };
  }

  start(): void {
    const tick = () => {
      this.running = this.syncOnce().finally(() => {
        this.running = null;
        if (this.timer !== null) this.timer = setTimeout(tick, this.options.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  async status(): Promise<SyncStatus> {
    return { ...this.state, drift: await this.fleet.drift() };
  }

  async syncOnce(): Promise<void> {
    this.state.last_attempt = this.options.clock.now().toISOString();
    try {
      const { commit, author } = await this.mirror.update();
      this.state.last_commit = commit;
      if (commit === this.state.applied_commit) return;
      const files = await repositoryFiles(join(this.mirror.workTree, this.options.directory), '--sync-dir');
      const { settings } = this.fleet.read(files);
      const principal: Principal = { actor: `sync:${this.options.repository}`, scope: 'admin', tenant: null };
      const result = await this.fleet.apply(files, principal, {
        allowDelete: settings.allow_delete,
        origin: { commit, author, repository: this.options.repository },
      });
      this.state.applied_commit = commit;
      this.state.last_error = null;
      this.state.last_result = result.summary;
      this.options.log('fleet sync applied', { commit, ...result.summary });
    } catch (error) {
      this.state.last_error = error instanceof Error ? error.message : String(error);
      this.options.log('fleet sync failed', { error: this.state.last_error });
    }
  }
}
