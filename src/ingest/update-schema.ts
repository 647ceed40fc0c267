/**
 * The wire format of one MWI update (the body of POST /v1/mwi, or one item of its `updates`
 * batch), as a zod schema. Every rule that producers can break is here, so a bad item is refused
 * before anything reaches Redis; the first broken rule becomes one issue with a stable code and
 * the path of the field (`counts.urgentNew`).
 *
 * ```json
 * { "mailbox": "sip:1000@pbx.example.net", "target": "sip:ps.example.net;transport=tcp",
 *   "counts": { "new": 2, "old": 8, "urgentNew": 1 }, "version": 1700000000123 }
 * ```
 * `counts` are the voice-message counts (what the lamp shows); `otherClasses` carries the other
 * RFC 3842 classes. `target` (PUBLISH to a presence server) and `contact` (unsolicited NOTIFY to
 * a phone) exclude each other; with neither, the server's targets.defaultPublishTarget is used.
 */
import { z } from 'zod';

import { ErrorCodes, type ErrorCode } from '../errors.ts';
import { MAX_MESSAGE_COUNT, isValidAccountUri, type MessageClass } from '../mwi/message-summary.ts';
import { parseTarget } from '../sip/target.ts';

/** Longest mailbox, target or contact URI accepted (the mailbox is part of a Redis key). */
export const MAX_URI_LENGTH = 512;

/** Field path from the item's root, e.g. ['counts', 'urgentNew']; [] is the item itself. */
export type IssuePath = Array<string | number>;

export interface WireIssue {
  code: ErrorCode;
  /** Names the rule, never quotes the input. */
  message: string;
  path: IssuePath;
}

/** Carried in a custom issue's params to give it a code other than MWI_HTTP_VALIDATION. */
interface CodeParams {
  mwiCode: ErrorCode;
}

function mustBe(what: string) {
  return (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `must be ${what}`);
}

function count() {
  const what = `an integer from 0 to ${MAX_MESSAGE_COUNT}`;
  const error = `must be ${what}`;
  return z.int({ error: mustBe(what) }).min(0, { error }).max(MAX_MESSAGE_COUNT, { error });
}

function uri(what: string, valid: (s: string) => boolean) {
  const error = `must be ${what} of visible ASCII characters (no spaces, CR, LF or other control characters), at most ${MAX_URI_LENGTH} characters`;
  return z
    .string({ error: mustBe('a string') })
    .refine((s) => s.length <= MAX_URI_LENGTH && valid(s), { error, params: { mwiCode: ErrorCodes.URI_INVALID } satisfies CodeParams });
}

function version() {
  const what = 'an integer from 0 to 2^53-1 (a version or a source timestamp)';
  return z.int({ error: mustBe(what) }).min(0, { error: `must be ${what}` });
}

/** A target or contact our SIP stack can send to: sip:/sips:, visible ASCII, a transport we speak. */
export function isDeliverableUri(s: string): boolean {
  if (!/^sips?:/.test(s) || !isValidAccountUri(s)) return false;
  try {
    parseTarget(s, 'UDP');
    return true;
  } catch {
    return false;
  }
}

const countsSchema = z
  .strictObject(
    {
      new: count(),
      old: count(),
      urgentNew: count().optional(),
      urgentOld: count().optional(),
    },
    { error: mustBe('an object') },
  )
  .superRefine((c, ctx) => {
    if (c.urgentNew !== undefined && c.urgentNew > c.new) ctx.addIssue({ code: 'custom', path: ['urgentNew'], message: 'must not exceed new' });
    if (c.urgentOld !== undefined && c.urgentOld > c.old) ctx.addIssue({ code: 'custom', path: ['urgentOld'], message: 'must not exceed old' });
  });

const otherClassesShape = {
  'fax-message': countsSchema.optional(),
  'pager-message': countsSchema.optional(),
  'multimedia-message': countsSchema.optional(),
  'text-message': countsSchema.optional(),
  none: countsSchema.optional(),
} satisfies Record<Exclude<MessageClass, 'voice-message'>, unknown>;

export const wireUpdateSchema = z
  .strictObject(
    {
      mailbox: uri('a sip:, sips: or tel: URI', isValidAccountUri),
      target: uri('a sip: or sips: URI of a presence server', isDeliverableUri).optional(),
      contact: uri("a sip: or sips: URI of the phone's contact", isDeliverableUri).optional(),
      counts: countsSchema.optional(),
      otherClasses: z.strictObject(otherClassesShape, { error: mustBe('an object keyed by message class') }).optional(),
      version: version(),
    },
    { error: mustBe('a JSON object') },
  )
  .superRefine((u, ctx) => {
    if (u.target !== undefined && u.contact !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['contact'], message: 'must not be given together with target (target: PUBLISH, contact: NOTIFY)' });
    }
    if (u.counts === undefined && !Object.values(u.otherClasses ?? {}).some((c) => c !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['counts'], message: 'is required (or at least one class in otherClasses)' });
    }
  });

/** One update as producers send it. */
export type WireUpdate = z.infer<typeof wireUpdateSchema>;
export type WireCounts = z.infer<typeof countsSchema>;
export type WireOtherClasses = NonNullable<WireUpdate['otherClasses']>;

/** The batch envelope; its items are validated one by one (see IngestService). */
export const wireBatchEnvelopeSchema = z.strictObject(
  { updates: z.array(z.unknown(), { error: mustBe('an array of updates') }) },
  { error: mustBe('a JSON object') },
);

export interface WireBatch {
  updates: WireUpdate[];
}

/** A body is a batch when it is an object with an own `updates` field. */
export function isBatchBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, 'updates');
}

function codeOf(iss: z.core.$ZodIssue): ErrorCode {
  if (iss.code === 'custom') {
    const code = (iss.params as Partial<CodeParams> | undefined)?.mwiCode;
    if (code !== undefined) return code;
  }
  return ErrorCodes.HTTP_VALIDATION;
}

/** The first issue zod found (fields in schema order), as code, message and path. */
export function firstIssue(error: z.ZodError): WireIssue {
  const iss = error.issues[0];
  if (iss === undefined) return { code: ErrorCodes.HTTP_VALIDATION, message: 'is invalid', path: [] };
  const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (iss.code === 'unrecognized_keys') return { code: ErrorCodes.HTTP_VALIDATION, message: 'is not a known field', path: [...path, iss.keys[0] ?? ''] };
  return { code: codeOf(iss), message: iss.message, path };
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issue: WireIssue };

export function parseWireUpdate(input: unknown): ParseResult<WireUpdate> {
  const r = wireUpdateSchema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, issue: firstIssue(r.error) };
}

export function parseWireBatchEnvelope(input: unknown): ParseResult<{ updates: unknown[] }> {
  const r = wireBatchEnvelopeSchema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, issue: firstIssue(r.error) };
}
