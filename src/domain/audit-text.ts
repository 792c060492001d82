/**
 * What may be stored in an audit row's text (actor, reason, …): no control characters. Runs of the
 * C0 whitespace controls (tab, newline, vertical tab, form feed, carriage return) become one space;
 * every other C0 control, DEL, the C1 controls and the bidirectional marks, embeddings, overrides
 * and isolates (which can make a stored line read differently from what it holds) are removed.
 *
 * The database does the same to every row it chains (custctl_audit_clean() in migration 5), so a
 * row written by another client obeys the rule too; the two must stay identical.
 */

const WHITESPACE_CONTROLS = /[\t-\r]+/g;
const OTHER_CONTROLS = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function cleanAuditText(s: string): string;
export function cleanAuditText(s: string | null | undefined): string | null;
export function cleanAuditText(s: string | null | undefined): string | null {
  if (s === null || s === undefined) return null;
  return s.replace(WHITESPACE_CONTROLS, ' ').replace(OTHER_CONTROLS, '');
}
