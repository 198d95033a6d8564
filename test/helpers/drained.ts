import { type LocalStack, queueDepth } from '../../local/stack.ts';

/** How long to wait: ms from now, an epoch-ms deadline read again at each look (for one that moves), or as long as the queue keeps shrinking. */
export type DrainTimeout = number | (() => number) | { stalledFor: number; atMost: number };

/**
 * Waits until the stack's jobs queue has been empty (visible, in flight and delayed) for three looks in a row,
 * 200 ms apart. It gives up after `timeout` ms, at the deadline a function gives, or, for `{ stalledFor, atMost }`,
 * once the queue has not shrunk for `stalledFor` ms or `atMost` ms have passed: a slow, loaded machine still
 * drains, while work that is stuck fails the wait. Resolves with whether it drained.
 */
export async function drained(stack: LocalStack, timeout: DrainTimeout): Promise<boolean> {
  const started = Date.now();
  const fixed = typeof timeout === 'number' ? started + timeout : undefined;
  let lowest = Number.POSITIVE_INFINITY;
  let shrankAt = started;
  const until = (): number => {
    if (fixed !== undefined) return fixed;
    if (typeof timeout === 'function') return timeout();
    if (typeof timeout === 'number') return started + timeout;
    return Math.min(started + timeout.atMost, shrankAt + timeout.stalledFor);
  };
  let quiet = 0;
  while (quiet < 3 && Date.now() < until()) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const depth = await queueDepth(stack);
    if (depth < lowest) {
      lowest = depth;
      shrankAt = Date.now();
    }
    quiet = depth === 0 ? quiet + 1 : 0;
  }
  return quiet >= 3;
}
