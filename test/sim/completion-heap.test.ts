import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompletionHeap } from '../../src/sim/completion-heap.js';

describe('CompletionHeap (indexed 4-ary min-heap of completions)', () => {
  it('always has the earliest time on top, through any sequence of sets, raises, lowers and removals', () => {
    const op = fc.tuple(
      fc.nat(31),
      fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(Infinity)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const heap = new CompletionHeap(32);
        const model = new Map<number, number>();
        for (const [slot, at] of ops) {
          heap.next[slot] = at;
          heap.update(slot);
          if (at === Infinity) model.delete(slot);
          else model.set(slot, at);
          expect(heap.size).toBe(model.size);
          const min = Math.min(...model.values());
          expect(heap.topTime()).toBe(model.size === 0 ? Infinity : min);
          if (model.size > 0) expect(model.get(heap.topSlot())).toBe(min);
        }
        // Draining in order gives the times sorted.
        const drained: number[] = [];
        while (heap.size > 0) {
          drained.push(heap.topTime());
          const slot = heap.topSlot();
          heap.next[slot] = Infinity;
          heap.update(slot);
        }
        expect(drained).toEqual([...model.values()].sort((a, b) => a - b));
      }),
      { seed: 99, numRuns: 200 },
    );
  });

  it('is empty at Infinity and holds at most one entry per slot', () => {
    const heap = new CompletionHeap(3);
    expect(heap.topTime()).toBe(Infinity);
    heap.next[1] = 5;
    heap.update(1);
    heap.next[1] = 7;
    heap.update(1);
    expect(heap.size).toBe(1);
    expect(heap.topTime()).toBe(7);
  });
});
