/**
 * RFC 7339 overload control: a server that is overloaded may put `oc=<percent>` (how much less
 * traffic it wants, 0-100) and `oc-validity=<ms>` in the top Via of its responses, provided the
 * request's Via carried a bare `oc` (we always send it). oc=0 or oc-validity=0 ends a reduction.
 */
export interface OverloadControl {
  /** Percentage of requests the server asks us to drop (0 = back to normal). */
  percent: number;
  /** How long the reduction holds, ms (RFC 7339 5.2: 500 ms when absent). */
  validityMs: number;
}

const DEFAULT_VALIDITY_MS = 500;
const MAX_VALIDITY_MS = 86_400_000;

/** The oc feedback of a response's top Via, or undefined when it carries none (or a malformed one). */
export function parseOverloadControl(via: string | undefined): OverloadControl | undefined {
  if (via === undefined || !/;\s*oc\s*=/i.test(via)) return undefined;
  const oc = /;\s*oc\s*=\s*(\d{1,3})(?=[\s;,]|$)/i.exec(via);
  if (!oc) return undefined;
  const percent = Number(oc[1]);
  if (percent > 100) return undefined;
  const validity = /;\s*oc-validity\s*=\s*(\d{1,9})(?=[\s;,]|$)/i.exec(via);
  const validityMs = validity ? Math.min(Number(validity[1]), MAX_VALIDITY_MS) : DEFAULT_VALIDITY_MS;
  return { percent, validityMs };
}
