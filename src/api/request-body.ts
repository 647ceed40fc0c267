/**
 * Request bodies of the operator routes, checked with zod: the first issue becomes 400
 * MWI_HTTP_VALIDATION naming the field (`reason`, `for`). Every message is ours and fixed; no
 * client value is ever quoted back (a client may paste a token into the wrong field).
 */
import { z } from 'zod';

import { MAX_DURATION_MS, parseDurationMs } from '../control/duration.ts';
import { MAX_REASON_CHARS, MAX_TARGET_CHARS } from '../control/control-input.ts';
import { ErrorCodes } from '../errors.ts';
import { apiError } from './errors.ts';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function text(maxChars: number, extra = '') {
  const error = `must be non-empty text of at most ${maxChars} characters without control characters${extra}`;
  return z.string({ error }).trim().min(1, { error }).max(maxChars, { error }).refine((s) => !CONTROL_CHARS.test(s), { error });
}

export const reasonField = () => text(MAX_REASON_CHARS);

/** A target URI as configured or a hop key: no whitespace. */
export const targetField = () => text(MAX_TARGET_CHARS, ' or whitespace').refine((s) => !/\s/.test(s), { error: 'must not contain whitespace' });

/** `30s`, `30m`, `2h`, `1d` (the CLI's --for) -> ms. */
export const durationField = () => {
  const error = `must be a whole number and a unit (s, m, h or d) of at most ${MAX_DURATION_MS / 86_400_000}d, e.g. 30m`;
  return z.string({ error }).transform((s, ctx) => {
    try {
      return parseDurationMs(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: error });
      return z.NEVER;
    }
  });
};

export function bodyObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? 'must be a JSON object' : undefined) });
}

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue === undefined ? [] : issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  const path = at.map(String).join('.');
  const message = issue === undefined ? 'is invalid' : issue.code === 'unrecognized_keys' ? 'is not a field of this request' : issue.message;
  throw apiError(ErrorCodes.HTTP_VALIDATION, `${path === '' ? 'body' : path} ${message}`, path);
}
