/** Virtual time: a priority queue of callbacks ordered by (time, insertion order). No real timers. */
interface Scheduled {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

export class Scheduler {
  #now: number;
  #seq = 0;
  readonly #heap: Scheduled[] = [];

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Runs `run` at `time` (never in the past). */
  at(time: number, run: () => void): void {
    this.#push({ time: Math.max(time, this.#now), seq: this.#seq++, run });
  }

  after(ms: number, run: () => void): void {
    this.at(this.#now + Math.max(0, ms), run);
  }

  /** Runs the next due callback; false when nothing is scheduled up to `until`. */
  step(until: number): boolean {
    const top = this.#heap[0];
    if (!top || top.time > until) return false;
    this.#pop();
    this.#now = top.time;
    top.run();
    return true;
  }

  /** Moves time to `time` when nothing is due before it. */
  advanceTo(time: number): void {
    if (time > this.#now) this.#now = time;
  }

  #less(a: Scheduled, b: Scheduled): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  #push(item: Scheduled): void {
    const heap = this.#heap;
    heap.push(item);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) break;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}
