import { type LocalStack, queueDepth } from '../../local/stack.ts';

/**
 * Waits until the stack's jobs queue has been empty (visible, in flight and delayed) for three looks in a row,
 * 200 ms apart, giving up after `timeoutMs`, or at the epoch-ms deadline a function gives (read again at each look,
 * for a deadline that moves). Resolves with whether it drained.
 */
export async function drained(stack: LocalStack, timeout: number | (() => number)): Promise<boolean> {
  const deadline = typeof timeout === 'number' ? Date.now() + timeout : undefined;
  const until = typeof timeout === 'number' ? () => deadline ?? 0 : timeout;
  let quiet = 0;
  while (quiet < 3 && Date.now() < until()) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    quiet = (await queueDepth(stack)) === 0 ? quiet + 1 : 0;
  }
  return quiet >= 3;
}
