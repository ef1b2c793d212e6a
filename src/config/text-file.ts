// Reading the files deliver's settings come from (.deliver/config, APP_CONFIG, .deliver/.env): a directory, an
// unreadable file or bytes that are not UTF-8 are the user's to fix, so each is one located ConfigError (exit 2),
// never a stack trace, and never U+FFFD silently standing in for a byte in a path.
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../output/errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The file's text; `display` is the name messages use (`.deliver/config`). */
export function readConfigText(path: string, display: string): string {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(display, undefined, 'is a directory, not a file');
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : (e.code ?? e.message);
    throw new ConfigError(display, undefined, `cannot read the file: ${why}`);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ConfigError(display, firstBadLine(bytes), 'this line is not valid UTF-8 text: save the file as UTF-8');
  }
}

/** The 1-based number of the first line that does not decode as UTF-8. */
function firstBadLine(bytes: Buffer): number {
  let line = 1;
  for (let start = 0; start <= bytes.length; line++) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    try {
      utf8.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    if (nl < 0) break;
    start = nl + 1;
  }
  return line;
}
