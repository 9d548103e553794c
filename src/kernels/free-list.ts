/**
 * @module
 * The allocator of the WebAssembly kernels' linear memory: first-fit over a fixed range, coalescing on free, so
 * that the memory never grows and typed-array views into it never detach. Pure.
 */

/** Alignment of every block: a cache line, so packed panels and views start on one. */
export const ALIGN = 64;

interface Block {
  offset: number;
  size: number;
}

/** First-fit allocator over [start, end) with coalescing on free; blocks are ALIGN-aligned. */
export class FreeList {
  private readonly free: Block[];
  private readonly live = new Map<number, number>();
  private used = 0;
  /** The end of the highest block ever handed out: no block has covered the memory above it. */
  private high: number;

  constructor(start: number, end: number) {
    this.free = [{ offset: start, size: end - start }];
    this.high = start;
  }

  /** The end of the highest block ever handed out (the range's start before the first): above it, no block was. */
  highWater(): number {
    return this.high;
  }

  /** @throws RangeError when no free block is large enough. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i];
      if (block.size < size) continue;
      const offset = block.offset;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.offset += size;
        block.size -= size;
      }
      this.live.set(offset, size);
      this.used += size;
      this.high = Math.max(this.high, offset + size);
      return offset;
    }
    const largest = this.free.reduce((best, b) => Math.max(best, b.size), 0);
    throw new RangeError(
      `wasm kernels: out of memory: ${bytes} bytes requested, largest free block ${largest} bytes ` +
        `(${this.used} of ${this.capacity()} bytes in use); raise capacityBytes`,
    );
  }

  /** @throws Error when `offset` is not the start of a live block. */
  release(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined)
      throw new Error(`wasm kernels: free of an array that is not allocated (offset ${offset})`);
    this.live.delete(offset);
    this.used -= size;
    let i = 0;
    while (i < this.free.length && this.free[i].offset < offset) i++;
    this.free.splice(i, 0, { offset, size });
    const next = this.free[i + 1];
    if (next && offset + size === next.offset) {
      this.free[i].size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.offset + prev.size === offset) {
      prev.size += this.free[i].size;
      this.free.splice(i, 1);
    }
  }

  usedBytes(): number {
    return this.used;
  }

  private capacity(): number {
    let total = this.used;
    for (const b of this.free) total += b.size;
    return total;
  }
}
