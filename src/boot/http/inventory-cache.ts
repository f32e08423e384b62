import type { Clock } from '../../core/clock.js';

/**
 * Values made from the inventory (each machine's rendered iPXE script), kept while the inventory stays the same.
 * Every inventory write appends to the audit chain, so its head id is a generation number for everything a script
 * is made of (devices, interfaces, profiles, images, mirrors, boot subnets), whichever process wrote it. The head
 * is read at most once per `checkEveryMs`, so in a boot storm a script costs no query, and a change is seen within
 * that time.
 */
export class InventoryCache<T> {
  private readonly entries = new Map<string, T>();
  private generation: number | null = null;
  private checkedAt = -Infinity;
  private checking: Promise<void> | null = null;

  constructor(
    private readonly readGeneration: () => Promise<number>,
    private readonly clock: Clock,
    private readonly checkEveryMs = 250,
    private readonly maxEntries = 100_000,
  ) {}

  async get(key: string, load: () => Promise<T>): Promise<T> {
    await this.revalidate();
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached;
    const generation = this.generation;
    const value = await load();
    // A load that overlapped a change may hold the old inventory: serve it, but do not keep it.
    if (generation === this.generation) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(key, value);
    }
    return value;
  }

  private async revalidate(): Promise<void> {
    if (this.clock.now().getTime() - this.checkedAt < this.checkEveryMs) return;
    this.checking ??= this.readGeneration()
      .then((generation) => {
        this.checkedAt = this.clock.now().getTime();
        if (generation !== this.generation) {
          this.entries.clear();
          this.generation = generation;
        }
      })
      .finally(() => {
        this.checking = null;
      });
    await this.checking;
  }
}
