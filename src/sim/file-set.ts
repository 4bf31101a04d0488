/**
 * A compact set of small non-negative integers: open addressing with linear probing in one
 * Int32Array, at most half full. The world keeps one per file for the clients whose cache holds it
 * complete, so the question every overlay query asks a client ("do you hold this file complete?")
 * reads one small array instead of two Maps — a flood asks it of thousands of clients, and the
 * Maps' scattered memory was a fifth of the simulator's time.
 *
 * Given the `universe` of its values (every value below it), a set whose table would take more
 * memory than one bit per possible value becomes that bitmap: a popular file's holders are
 * thousands of the clients, and a flood asks about a thousand of them at random places, which in
 * a table of megabytes meant a cache miss each; the bitmap of 100 000 clients is 12.5 kB.
 */
const EMPTY = new Int32Array(0);

export class FileSet {
  /** Value + 1 per cell, 0 for an empty cell (an empty table once the bitmap is used). */
  private cells: Int32Array;
  private shift: number;
  private n = 0;
  /** One bit per value of the universe, once the set has grown to use it; null before. */
  private bits: Int32Array | null = null;
  private readonly universe: number;

  /**
   * @param capacity values it will hold without growing
   * @param universe all values will be below this (0: unbounded, never a bitmap)
   */
  constructor(capacity = 8, universe = 0) {
    if (!(Number.isInteger(universe) && universe >= 0)) throw new RangeError(`FileSet universe must be an integer >= 0, got ${universe}`);
    this.universe = universe;
    let bits = 3;
    while (1 << bits < 2 * capacity) bits++;
    this.shift = 32 - bits;
    if (this.bitmapPays(1 << bits)) {
      this.cells = EMPTY;
      this.bits = new Int32Array(Math.ceil(universe / 32));
    } else this.cells = new Int32Array(1 << bits);
  }

  get size(): number {
    return this.n;
  }

  has(v: number): boolean {
    const bits = this.bits;
    if (bits !== null) return ((bits[v >>> 5]! >>> (v & 31)) & 1) === 1; // beyond the universe: undefined, so 0
    const cells = this.cells;
    const mask = cells.length - 1;
    const key = v + 1;
    for (let h = this.home(v); ; h = (h + 1) & mask) {
      const e = cells[h]!;
      if (e === key) return true;
      if (e === 0) return false;
    }
  }

  /** Adds `v`; false if it was in the set already. */
  add(v: number): boolean {
    if (!(Number.isInteger(v) && v >= 0 && v < 0x7fffffff)) throw new RangeError(`FileSet takes integers in 0..2^31-2, got ${v}`);
    if (this.universe > 0 && v >= this.universe) throw new RangeError(`FileSet of a universe of ${this.universe} got ${v}`);
    if (this.has(v)) return false;
    if (this.bits === null && 2 * (this.n + 1) > this.cells.length) this.grow();
    const bits = this.bits; // the growth may have made it
    if (bits !== null) {
      bits[v >>> 5]! |= 1 << (v & 31);
      this.n++;
      return true;
    }
    this.insert(v + 1);
    this.n++;
    return true;
  }

  delete(v: number): boolean {
    const bits = this.bits;
    if (bits !== null) {
      if (!this.has(v)) return false;
      bits[v >>> 5]! &= ~(1 << (v & 31));
      this.n--;
      return true;
    }
    const cells = this.cells;
    const mask = cells.length - 1;
    const key = v + 1;
    let p = this.home(v);
    while (cells[p] !== key) {
      if (cells[p] === 0) return false;
      p = (p + 1) & mask;
    }
    cells[p] = 0;
    this.n--;
    // Backward-shift deletion: an entry after the hole moves into it unless its home lies
    // cyclically in (hole, entry], so every probe chain stays unbroken.
    for (let j = (p + 1) & mask; cells[j] !== 0; j = (j + 1) & mask) {
      const k = this.home(cells[j]! - 1);
      const stays = p <= j ? p < k && k <= j : p < k || k <= j;
      if (stays) continue;
      cells[p] = cells[j]!;
      cells[j] = 0;
      p = j;
    }
    return true;
  }

  private home(v: number): number {
    return Math.imul(v + 1, 0x9e3779b1) >>> this.shift;
  }

  private insert(key: number): void {
    const cells = this.cells;
    const mask = cells.length - 1;
    let h = this.home(key - 1);
    while (cells[h] !== 0) h = (h + 1) & mask;
    cells[h] = key;
  }

  /** Whether a table of `cells` cells takes more memory than the bitmap of the universe. */
  private bitmapPays(cells: number): boolean {
    return this.universe > 0 && 32 * cells > this.universe;
  }

  private grow(): void {
    const old = this.cells;
    if (this.bitmapPays(old.length * 2)) {
      const bits = new Int32Array(Math.ceil(this.universe / 32));
      for (let i = 0; i < old.length; i++) {
        const v = old[i]! - 1;
        if (v >= 0) bits[v >>> 5]! |= 1 << (v & 31);
      }
      this.bits = bits;
      this.cells = EMPTY;
      return;
    }
    this.cells = new Int32Array(old.length * 2);
    this.shift--;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.insert(old[i]!);
  }
}
