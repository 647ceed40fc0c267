/**
 * Deadlines that all lie one fixed delay after they are added (the stack's transaction timeout):
 * insertion order is then deadline order, so they form a FIFO, kept as an intrusive doubly linked
 * list behind one clock timer for the earliest. Adding and removing are O(1) and allocate nothing
 * (a setTimeout per request allocates a timer object and a closure, and a Node timer list entry).
 * A removed node is unlinked at once and keeps nothing alive. If the wall clock steps back, a later
 * node may carry an earlier deadline than the one before it; it then fires with that one, late by
 * at most the step.
 */
import type { Clock, TimerHandle } from '../clock.ts';

export interface DeadlineNode {
  deadlineAtMs: number;
  deadlinePrev: DeadlineNode | undefined;
  deadlineNext: DeadlineNode | undefined;
  /** The list the node is in, undefined when in none. */
  deadlineList: DeadlineList<DeadlineNode> | undefined;
}

export class DeadlineList<T extends DeadlineNode> {
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #onExpire: (node: T) => void;
  #head: DeadlineNode | undefined;
  #tail: DeadlineNode | undefined;
  #size = 0;
  #timer: TimerHandle | undefined;
  /** Inside #fire: adds wait for the re-arm at its end (the head may be due before a new node). */
  #firing = false;

  constructor(clock: Clock, delayMs: number, onExpire: (node: T) => void) {
    this.#clock = clock;
    this.#delayMs = delayMs;
    this.#onExpire = onExpire;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends the node with its deadline `delayMs` from now; a node already in a list moves here. */
  add(node: T): void {
    if (node.deadlineList) node.deadlineList.remove(node);
    node.deadlineAtMs = this.#clock.now() + this.#delayMs;
    node.deadlineList = this as unknown as DeadlineList<DeadlineNode>;
    node.deadlinePrev = this.#tail;
    node.deadlineNext = undefined;
    if (this.#tail) this.#tail.deadlineNext = node;
    else this.#head = node;
    this.#tail = node;
    this.#size++;
    if (this.#timer === undefined && !this.#firing) this.#arm(this.#delayMs);
  }

  /** Takes the node out (it will not expire); no-op when it is not in this list. */
  remove(node: T): void {
    if (node.deadlineList !== (this as unknown as DeadlineList<DeadlineNode>)) return;
    this.#unlink(node);
    // An empty list holds no timer; a non-empty one keeps the armed timer even if it was for this
    // node: it then fires early, finds nothing due and re-arms for the new head.
    if (this.#size === 0 && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Forgets every node without expiring any, and stops the timer. */
  clear(): void {
    while (this.#head) this.#unlink(this.#head);
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #unlink(node: DeadlineNode): void {
    const { deadlinePrev: prev, deadlineNext: next } = node;
    if (prev) prev.deadlineNext = next;
    else this.#head = next;
    if (next) next.deadlinePrev = prev;
    else this.#tail = prev;
    node.deadlinePrev = undefined;
    node.deadlineNext = undefined;
    node.deadlineList = undefined;
    this.#size--;
  }

  #arm(delayMs: number): void {
    this.#timer = this.#clock.setTimeout(this.#fire, Math.max(0, delayMs));
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#firing = true;
    try {
      const now = this.#clock.now();
      while (this.#head !== undefined && this.#head.deadlineAtMs <= now) {
        const node = this.#head;
        this.#unlink(node);
        this.#onExpire(node as T);
      }
    } finally {
      // Re-armed for whatever is left, even when a handler threw.
      this.#firing = false;
      if (this.#head !== undefined) this.#arm(this.#head.deadlineAtMs - this.#clock.now());
    }
  };
}
