/**
 * Mailbox URI templates of the sweep sources: `sip:{mailbox}@{context}.pbx.example` turns the
 * PBX's mailbox name and voicemail context into the account URI the runner publishes for.
 * Substituted values are percent-encoded (RFC 3986 unreserved characters stay as they are), so a
 * mailbox or context name can never inject URI syntax (`@`, `;`, `>`, spaces, CR/LF).
 */
import { ErrorCodes, MwiError } from '../errors.ts';
import { isValidAccountUri } from '../mwi/message-summary.ts';
import { MAX_URI_LENGTH } from '../ingest/update-schema.ts';

export const TEMPLATE_PLACEHOLDERS = ['mailbox', 'context'] as const;
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];

export interface MailboxUriTemplate {
  readonly text: string;
  /** Whether the template uses `{context}` (a SQL query must then return a context column). */
  readonly usesContext: boolean;
  render(values: Record<TemplatePlaceholder, string>): string;
}

/** A mailbox URI the rest of the runner accepts (same rule as the ingestion API). */
export function isAcceptableMailboxUri(uri: string): boolean {
  return uri.length <= MAX_URI_LENGTH && isValidAccountUri(uri);
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Why `text` is not a usable template, or undefined when it is (for config validation). */
export function mailboxUriTemplateProblem(text: string): string | undefined {
  if (!/^(?:sips?|tel):/i.test(text)) return 'must start with sip:, sips: or tel:';
  const names = [...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
  const unknown = names.find((n) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(n));
  if (unknown !== undefined) return `may use only {mailbox} and {context}, not {${unknown}}`;
  if (!names.includes('mailbox')) return 'must contain {mailbox}';
  if (text.replace(PLACEHOLDER, '').includes('{') || text.replace(PLACEHOLDER, '').includes('}')) return 'has an unbalanced { or }';
  const sample = text.replace(PLACEHOLDER, (_, name: string) => (name === 'mailbox' ? '1000' : 'default'));
  if (!isAcceptableMailboxUri(sample)) return 'must give a URI of visible ASCII characters without spaces, < > or " (e.g. sip:{mailbox}@{context}.pbx.example)';
  return undefined;
}

export function parseMailboxUriTemplate(text: string): MailboxUriTemplate {
  const problem = mailboxUriTemplateProblem(text);
  if (problem !== undefined) {
    throw new MwiError(ErrorCodes.CONFIG_INVALID, `mailbox URI template ${JSON.stringify(text)} ${problem}`, { details: { template: text } });
  }
  // Literal text and placeholders alternate: parts[0], {name}, parts[1], {name}, ...
  const pieces = text.split(PLACEHOLDER);
  return {
    text,
    usesContext: pieces.some((p, i) => i % 2 === 1 && p === 'context'),
    render(values) {
      let out = '';
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i] ?? '';
        out += i % 2 === 0 ? piece : encodeURIComponent(values[piece as TemplatePlaceholder]);
      }
      return out;
    },
  };
}
