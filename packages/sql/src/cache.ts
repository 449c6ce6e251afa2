/**
 * A bounded, LRU-ish map: two generations. Lookups hit the young generation,
 * then the old one (promoting the entry); when the young generation is full
 * (by entries or by key characters) it becomes the old one and the previous
 * old one is dropped. O(1), no per-hit reordering.
 */
export class GenerationalCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private youngChars = 0;

  constructor(
    /** Most entries kept (both generations together). */
    private readonly maxEntries: number,
    /** Most key characters kept (both generations together), to bound memory for long statements. */
    private readonly maxChars: number,
  ) {}

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) {
      this.old.delete(key);
      this.set(key, o);
    }
    return o;
  }

  set(key: string, value: V): void {
    if (!this.young.has(key)) this.youngChars += key.length;
    this.young.set(key, value);
    if (this.young.size >= this.maxEntries / 2 || this.youngChars >= this.maxChars / 2) {
      this.old = this.young;
      this.young = new Map();
      this.youngChars = 0;
    }
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
    this.youngChars = 0;
  }
}
