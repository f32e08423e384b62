/**
 * Cuts a stream of text chunks into lines. A chunk may end mid-line; the rest waits for the next chunk, and
 * `end()` hands out a last line that had no line break. `\r\n` counts as one break.
 */
export class LineSplitter {
  private pending = '';

  /** Returns the lines completed by this chunk, without their breaks. */
  push(chunk: string): string[] {
    // Only the new chunk is searched, so one long line arriving in many chunks costs linear time.
    const lastBreak = chunk.lastIndexOf('\n');
    if (lastBreak < 0) {
      this.pending += chunk;
      return [];
    }
    const lines = (this.pending + chunk.slice(0, lastBreak)).split('\n');
    this.pending = chunk.slice(lastBreak + 1);
    return lines.map(stripCarriageReturn);
  }

  /** Returns the unterminated last line, if any, and starts afresh. */
  end(): string[] {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : [stripCarriageReturn(rest)];
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
