/** Polling a condition in integration tests and chaos scenarios: real processes, real time. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds until `check` held, or undefined when it did not within `timeoutMs`. */
export async function pollUntil(timeoutMs: number, check: () => Promise<boolean> | boolean, pollMs = 20): Promise<number | undefined> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) return undefined;
    await sleep(pollMs);
  }
}

/** Milliseconds until `check` held; throws "<what>: not within N ms" otherwise. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, pollMs = 20): Promise<number> {
  const ms = await pollUntil(timeoutMs, check, pollMs);
  if (ms === undefined) throw new Error(`${what}: not within ${timeoutMs} ms`);
  return ms;
}
