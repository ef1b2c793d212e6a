// The last N lines of a step's output, kept for the error message when the step fails.

export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly max = 40) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
  }

  text(): string {
    return this.lines.join('\n');
  }

  get length(): number {
    return this.lines.length;
  }
}
