/**
 * Whether a backup found on the local file system can be trusted as far as its location goes. A
 * backup's checksums live inside the archive (and beside an encrypted one), so whoever can replace
 * the file can recompute them: what is restored is only as trustworthy as the set of people who
 * can write where it lies. The rule (as ssh's StrictModes reads ~/.ssh):
 *
 * - the archive: a regular file (not a link), owned by this user or root, writable by no one else;
 * - its directory: owned by this user or root, writable by no one else (not even with the sticky
 *   bit: anyone could add a newer-looking archive there);
 * - every directory above: owned by this user or root, writable by no one else unless sticky
 *   (like /tmp: others may add entries, but cannot rename or replace this user's).
 *
 * Pure: the adapter stats the path and passes what it found.
 */

export interface PathFacts {
  path: string;
  uid: number;
  /** st_mode */
  mode: number;
  kind: 'file' | 'dir' | 'link' | 'other';
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

function writers(mode: number): string {
  return mode & 0o002 ? 'everyone' : 'its group';
}

/**
 * What makes the archive untrustworthy, or null. `chain` is the archive's directory first, then
 * each directory above it up to `/`; `file` the archive itself (absent when only the directory is
 * judged, e.g. before listing it).
 */
export function locationProblems(chain: readonly PathFacts[], file: PathFacts | null, ownUid: number): string[] {
  const out: string[] = [];
  const owner = (f: PathFacts) => (f.uid === ownUid || f.uid === 0 ? null : `${f.path} is owned by uid ${f.uid}, not by you (uid ${ownUid}) or root`);
  if (file) {
    if (file.kind !== 'file') out.push(`${file.path} is ${file.kind === 'link' ? 'a symbolic link' : 'not a regular file'}`);
    const o = owner(file);
    if (o) out.push(o);
    if (file.mode & 0o022) out.push(`${file.path} is writable by ${writers(file.mode)} (mode ${octal(file.mode)})`);
  }
  chain.forEach((d, i) => {
    const o = owner(d);
    if (o) out.push(o);
    const sticky = (d.mode & 0o1000) !== 0;
    if (d.mode & 0o022 && (i === 0 || !sticky)) {
      out.push(`${d.path} is writable by ${writers(d.mode)} (mode ${octal(d.mode)})${i === 0 ? ': anyone who can write there can put an archive in' : ''}`);
    }
  });
  return out;
}
