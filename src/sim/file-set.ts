/**
 * A compact set of small non-negative integers: open addressing with linear probing in one
 * Int32Array, at most half full. The world keeps one per file for the clients whose cache holds it
 * complete, so the question every overlay query asks a client ("do you hold this file complete?")
 * reads one small array instead of two Maps — a flood asks it of thousands of clients, and the
 * Maps' scattered memory was a fifth of the simulator's time.
 */
export class FileSet {
  /** Value + 1 per cell, 0 for an empty cell. */
  private cells: Int32Array;
  private shift: number;
  private n = 0;

  constructor(capacity = 8) {
    let bits = 3;
    while (1 << bits < 2 * capacity) bits++;
    this.cells = new Int32Array(1 << bits);
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.n;
  }

  has(v: number): boolean {
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
    if (this.has(v)) return false;
    if (2 * (this.n + 1) > this.cells.length) this.grow();
    this.insert(v + 1);
    this.n++;
    return true;
  }

  delete(v: number): boolean {
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

  private grow(): void {
    const old = this.cells;
    this.cells = new Int32Array(old.length * 2);
    this.shift--;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.insert(old[i]!);
  }
}
