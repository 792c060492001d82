/** the characters that change the scanner's state outside strings */
const STRUCTURAL = /["{}[\],]/g;

/**
 * Reads a list response as it arrives, one item at a time: `onItem` gets each element of the
 * top-level `items` array (parsed on its own), and the other top-level fields (`metadata`,
 * `kind`…) are returned at the end. A list of 50,000 objects never exists whole in memory, as
 * text or as objects: only one item's text at a time.
 */
export class ListStreamParser {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private expectKey = false;
  private readingKey = false;
  private keyText = '';
  /** the top-level key whose value is being read */
  private key = '';
  private inItems = false;
  /** what is being collected: one item, or a top-level value (an object or array) */
  private collecting: 'item' | 'value' | null = null;
  private buf: string[] = [];
  readonly fields: Record<string, unknown> = {};
  items = 0;

  constructor(private readonly onItem: (item: unknown) => void) {}

  push(chunk: string): void {
    let from = this.collecting ? 0 : -1;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.inString) {
        // to the closing quote: indexOf, then the backslashes before it (an odd run escapes it)
        if (this.escaped) { this.escaped = false; i++; continue; }
        const q = chunk.indexOf('"', i);
        const end = q < 0 ? n : q;
        if (this.readingKey) this.keyText += chunk.slice(i, end);
        if (q < 0) {
          let b = 0;
          for (let j = n - 1; j >= i && chunk.charCodeAt(j) === 92; j--) b++;
          this.escaped = b % 2 === 1;
          break;
        }
        let b = 0;
        for (let j = q - 1; j >= i && chunk.charCodeAt(j) === 92; j--) b++;
        if (b % 2 === 1) { if (this.readingKey) this.keyText += '"'; i = q + 1; continue; }
        this.inString = false;
        if (this.readingKey) {
          this.readingKey = false;
          // the key's own escapes are not undone: list keys have none
          this.key = this.keyText;
        }
        i = q + 1;
        continue;
      }
      STRUCTURAL.lastIndex = i;
      const m = STRUCTURAL.exec(chunk);
      if (!m) break;
      i = m.index;
      const c = chunk.charCodeAt(i);
      if (c === 34) {
        this.inString = true;
        if (this.depth === 1 && this.expectKey) { this.readingKey = true; this.keyText = ''; this.expectKey = false; }
      } else if (c === 123 /* { */ || c === 91 /* [ */) {
        this.depth++;
        if (this.depth === 1) this.expectKey = true;
        else if (this.depth === 2 && this.key === 'items' && c === 91) this.inItems = true;
        else if (this.depth === 3 && this.inItems) { this.collecting = 'item'; this.buf = []; from = i; }
        else if (this.depth === 2) { this.collecting = 'value'; this.buf = []; from = i; }
      } else if (c === 125 /* } */ || c === 93 /* ] */) {
        if ((this.depth === 3 && this.collecting === 'item') || (this.depth === 2 && this.collecting === 'value')) {
          this.buf.push(chunk.slice(from, i + 1));
          const v: unknown = JSON.parse(this.buf.length === 1 ? (this.buf[0] as string) : this.buf.join(''));
          if (this.collecting === 'item') { this.onItem(v); this.items++; } else this.fields[this.key] = v;
          this.collecting = null;
          this.buf = [];
          from = -1;
        } else if (this.depth === 2 && this.inItems) this.inItems = false;
        this.depth--;
      } else if (c === 44 /* , */ && this.depth === 1) this.expectKey = true;
      i++;
    }
    if (this.collecting && from >= 0) this.buf.push(chunk.slice(from));
  }
}
