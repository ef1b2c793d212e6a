// Secrets never reach output, logs, error messages or files on hosts: every value registered here is masked
// wherever it appears. Structured data is redacted value by value before it is encoded (redactValue); text that
// already holds encoded values (a message quoting a value with JSON.stringify, a shell-quoted command line) is
// matched against each secret's encoded spellings too, so an escaped `"`, `\`, `'` or newline never lets one through.

const secrets = new Set<string>();
/** Every spelling of every secret, built on first use after a change. */
let spellings: string[] | undefined;

/** Shortest value registered; shorter ones would mask ordinary words. */
const MIN_LENGTH = 4;
/** Shortest line of a multi-line secret masked on its own (PEM bodies, JSON key files; not `{` or `-----`). */
const MIN_LINE_LENGTH = 8;

/**
 * Registers a secret value (S3 secret key, tokens, values of *_SECRET/*_PASSWORD variables). A multi-line value
 * (a private key) is masked whole, and each of its lines too, for output that arrives line by line.
 */
export function addSecret(value: string | undefined): void {
  if (!value) return;
  const add = (s: string, min: number) => {
    if (s.length >= min) secrets.add(s);
  };
  add(value, MIN_LENGTH);
  add(value.trim(), MIN_LENGTH);
  if (/[\r\n]/.test(value)) for (const line of value.split(/\r?\n|\r/)) add(line.trim(), MIN_LINE_LENGTH);
  spellings = undefined;
}

const json = (s: string) => JSON.stringify(s).slice(1, -1);
const shellQuoted = (s: string) => s.replace(/'/g, `'\\''`);

/** `s` as it appears inside a JSON string, a single-quoted shell word, both nested, and with CRLF line ends. */
function encodings(s: string): string[] {
  return [s, s.replace(/\r?\n/g, '\r\n')].flatMap((v) => [v, json(v), shellQuoted(v), json(shellQuoted(v)), shellQuoted(json(v))]);
}

function allSpellings(): string[] {
  spellings ??= [...new Set([...secrets].flatMap(encodings))];
  return spellings;
}

/** Masks every occurrence of every spelling of every secret; overlapping or adjacent matches become one `***`. */
export function redact(text: string): string {
  if (secrets.size === 0) return text;
  const hits: [number, number][] = [];
  for (const s of allSpellings()) {
    for (let i = text.indexOf(s); i !== -1; i = text.indexOf(s, i + 1)) hits.push([i, i + s.length]);
  }
  if (hits.length === 0) return text;
  hits.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [from, to] of hits) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  let out = '';
  let at = 0;
  for (const [from, to] of merged) {
    out += text.slice(at, from) + '***';
    at = to;
  }
  return out + text.slice(at);
}

/**
 * A copy of `value` with every string in it (object keys too) redacted: use it before JSON.stringify. A value whose
 * JSON text holds no secret's JSON spelling holds no secret (the common case, one pass); otherwise its strings are
 * masked as one NUL-joined text (no secret holds a NUL), so a large result costs one pass per secret either way.
 */
export function redactValue<T>(value: T): T {
  if (secrets.size === 0) return value;
  const text = JSON.stringify(value);
  if (text === undefined || !allSpellings().some((s) => text.includes(s))) return value;
  const strings: string[] = [];
  walk(value, (s) => (strings.push(s), s));
  const masked = redact(strings.join('\0')).split('\0');
  if (masked.length !== strings.length) return walk(value, redact); // a string held a NUL itself
  let i = 0;
  return walk(value, () => masked[i++]!);
}

/** Rebuilds plain objects and arrays, mapping every string (keys first, in order) through `f`. */
function walk<T>(value: T, f: (s: string) => string): T {
  if (typeof value === 'string') return f(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => walk(v, f)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = f(k);
      const val = walk(v, f);
      // a key named __proto__ stays a key (an assignment would set the prototype)
      if (key === '__proto__') Object.defineProperty(out, key, { value: val, enumerable: true, writable: true, configurable: true });
      else out[key] = val;
    }
    return out as T;
  }
  return value;
}

/** Variable names whose values are secrets by convention: *SECRET*, *PASSWORD*, *TOKEN*, API_KEY, *_KEY, ... */
export function isSecretName(name: string): boolean {
  return /SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_?KEY|CREDENTIAL|COOKIE|(^|_)KEY$/i.test(name);
}

export function clearSecretsForTests(): void {
  secrets.clear();
  spellings = undefined;
}
