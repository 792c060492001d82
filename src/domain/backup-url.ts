/**
 * Backup URLs: `file:///absolute/dir` and `s3://bucket/prefix`, the one parser behind every place a
 * backup URL comes in (`delete --backup`, `backups list|prune --backup`, `restore --from`,
 * CUSTCTL_BACKUP_URL, a job's stored URL read back by a worker).
 *
 * The raw text is read here, not through the WHATWG parser's forgiving normalisation: that parser
 * resolves `..` and `%2E%2E`, treats `\` as `/`, drops tabs and newlines, reads `file:foo` as
 * `file:///foo`, and keeps an s3:// URL's port, credentials and query where nothing reads them.
 * Each of those is refused here with the reason, so the directory or bucket acted on is exactly
 * the one written. What is returned serialises back to a URL that parses to the same target
 * (a directory named `%2F..` stays one directory, never a climb).
 */
import { UsageError } from './errors.js';

export type BackupUrl = { scheme: 'file'; dir: string; url: string } | { scheme: 's3'; bucket: string; prefix: string; url: string };

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const HINT = 'Use file:///absolute/dir or s3://bucket/prefix.';

/**
 * The input as shown in an error: credentials (`//user:secret@`) masked, quoted, control
 * characters (C0 and C1) escaped, cut when long.
 */
function shown(raw: string): string {
  const chars = [...raw.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@')];
  const cut = chars.length > 120 ? `${chars.slice(0, 120).join('')}…` : chars.join('');
  return JSON.stringify(cut).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function refuse(flag: string, raw: string, why: string, hint = HINT): never {
  throw new UsageError(`${flag} ${shown(raw)}: ${why}`, [hint]);
}

/** A path segment, percent-encoded so that decoding it gives it back (and nothing else). */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/%(3A|40|2B|2C|3D|24|26|3B)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export function fileUrl(dir: string): string {
  return `file://${dir === '/' ? '/' : dir.split('/').map(encodeSegment).join('/')}`;
}

export function s3Url(bucket: string, prefix: string): string {
  return `s3://${bucket}${prefix ? `/${prefix.split('/').map(encodeSegment).join('/')}` : ''}`;
}

/**
 * The path's segments, each percent-decoded once. Refused: a query or fragment, a backslash, an
 * invalid %-sequence, a segment that decodes to a control character or holds a `/` (`%2F`),
 * `.`/`..` written or encoded, an empty segment inside the path (`a//b`). A trailing `/` is fine.
 */
function pathSegments(flag: string, raw: string, path: string): string[] {
  if (/[?#]/.test(path)) refuse(flag, raw, 'a query or fragment (?…, #…) is refused: nothing would read it', `Percent-encode ? and # in a name (%3F, %23). ${HINT}`);
  if (path.includes('\\')) refuse(flag, raw, 'a backslash is refused (URL parsers read it as /)');
  const parts = path.split('/');
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  return parts.map((p, i) => {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      return refuse(flag, raw, `segment ${i + 1} (${shown(p)}) is not valid percent-encoding`);
    }
    if (CONTROL.test(d)) refuse(flag, raw, `segment ${shown(p)} decodes to a control character`);
    if (d === '') refuse(flag, raw, 'an empty path segment (//) is refused');
    if (d === '.' || d === '..') refuse(flag, raw, `${shown(p)} is a dot segment: a backup URL names its directory itself, it never climbs (.., %2E%2E)`);
    if (d.includes('/') || d.includes('\\')) refuse(flag, raw, `segment ${shown(p)} decodes to a path separator (%2F, %5C): refused, it could climb out of the directory`);
    return d;
  });
}

/**
 * S3's rules for (general purpose) bucket names: 3–63 of a-z 0-9 . -, starting and ending with
 * a letter or digit, no `..`, not an IP address, none of the prefixes and suffixes S3 reserves.
 * Returns what is wrong, or null.
 */
export function s3BucketProblem(b: string): string | null {
  if (b.length < 3 || b.length > 63) return `a bucket name has 3 to 63 characters (this one ${b.length})`;
  if (!/^[a-z0-9.-]+$/.test(b)) return 'a bucket name holds only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9].*[a-z0-9]$/.test(b)) return 'a bucket name starts and ends with a letter or digit';
  if (b.includes('..')) return 'a bucket name has no two dots in a row';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(b)) return 'a bucket name is not an IP address';
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-']) if (b.startsWith(p)) return `a bucket name does not start with ${p} (reserved by S3)`;
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) if (b.endsWith(s)) return `a bucket name does not end with ${s} (reserved by S3)`;
  return null;
}

/** S3 keys are at most 1024 bytes; the archive name (up to about 80) goes after the prefix. */
const MAX_PREFIX_BYTES = 900;

/** `file:///abs/dir` (or `file://localhost/abs/dir`) or `s3://bucket/prefix`; anything else is a usage error (exit 2). */
export function parseBackupUrl(raw: string, flag = '--backup'): BackupUrl {
  if (typeof raw !== 'string' || raw === '') refuse(flag, String(raw ?? ''), 'is empty');
  if (CONTROL.test(raw)) refuse(flag, raw, 'a control character (NUL, tab, newline, escape…) is refused: URL parsers drop some of them silently');
  if (raw.trim() !== raw) refuse(flag, raw, 'leading or trailing white space is refused');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(raw);
  if (!m) refuse(flag, raw, 'is not a URL');
  const scheme = (m[1] as string).toLowerCase();
  const rest = m[2] as string;
  if (scheme === 'file') {
    if (!rest.startsWith('//')) refuse(flag, raw, 'a relative file URL is refused: a backup directory is written as an absolute path, file:///dir', 'Use file:///absolute/dir (three slashes).');
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    if (authority !== '' && authority.toLowerCase() !== 'localhost') refuse(flag, raw, `a file URL names a local directory (file:///dir), not a host (${shown(authority)})`);
    if (slash < 0) refuse(flag, raw, 'names no directory');
    const path = rest.slice(slash + 1);
    const dir = path === '' ? '/' : `/${pathSegments(flag, raw, path).join('/')}`;
    return { scheme: 'file', dir, url: fileUrl(dir) };
  }
  if (scheme === 's3') {
    if (!rest.startsWith('//')) refuse(flag, raw, 'write s3://bucket/prefix');
    const end = rest.slice(2).search(/[/?#]/);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    const after = end < 0 ? '' : rest.slice(2 + end);
    if (authority.includes('@')) refuse(flag, raw, 'credentials in an s3:// URL are refused (they would be kept in logs and the job journal)', 'Give credentials through the AWS SDK chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, a role).');
    if (authority.includes(':')) refuse(flag, raw, 'a port in an s3:// URL is refused (the URL names a bucket, not a server)', 'Set CUSTCTL_S3_ENDPOINT (e.g. http://127.0.0.1:9000) for an S3-compatible store.');
    if (authority === '') refuse(flag, raw, 's3://bucket/prefix needs a bucket');
    if (/^[?#]/.test(after)) refuse(flag, raw, 'a query or fragment (?…, #…) is refused: nothing would read it');
    const problem = s3BucketProblem(authority);
    if (problem) refuse(flag, raw, `${shown(authority)} is not a valid S3 bucket name: ${problem}`);
    const path = after.replace(/^\//, '');
    const prefix = path === '' ? '' : pathSegments(flag, raw, path).join('/');
    if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) refuse(flag, raw, `the prefix is longer than ${MAX_PREFIX_BYTES} bytes (an S3 key holds 1024)`);
    return { scheme: 's3', bucket: authority, prefix, url: s3Url(authority, prefix) };
  }
  return refuse(flag, raw, 'only file:// and s3:// backup targets are supported');
}
