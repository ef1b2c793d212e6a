// `--pull` (RELEASE_PULL=true): each deploy host downloads the release from S3 itself through a short-lived
// presigned URL, so the orchestrator's uplink carries no release bytes and no credentials leave it.
// The URL is a bearer token: it reaches the host on stdin (never on a command line, which `ps` on the host would
// show), is fed to curl as a config file on stdin (`-K -`) or to wget as a URL list (`-i -`) by the shell's
// builtin printf, and every error line from the tool has its URLs cut out before it is printed.
import { DeliverError, UsageError } from '../output/errors.js';
import { addSecret } from '../output/redact.js';
import { caseOf, chain, ifThen, or, raw, sh, type Shell } from '../ssh/quote.js';
import type { ReleaseStore } from '../store/types.js';

/** Exit status of the download script when the host could not fetch the release (see pullCommand). */
export const EXIT_DOWNLOAD = 6;

/**
 * Lifetime of a presigned URL. S3 checks it when a request starts, not while the body streams, and each host's
 * URL is signed right before that host's download, so a short one suffices even for long rolling deploys.
 */
export const PULL_URL_TTL_SECONDS = 300;

/** A store hosts can pull from (S3 with presigned URLs); anything else is a usage error naming the store. */
export function assertPullable(store: ReleaseStore): asserts store is ReleaseStore & Required<Pick<ReleaseStore, 'presignedGetUrl'>> {
  if (store.kind !== 's3' || typeof store.presignedGetUrl !== 'function') {
    throw new UsageError(`--pull needs an S3 release store; ${store.description} is a ${store.kind ?? 'non-S3'} store`, {
      hint: 'hosts download with curl/wget from a presigned S3 URL; with this store, deploy without --pull (RELEASE_PULL=false)',
    });
  }
}

/**
 * What the download script reads on stdin: the URL and a newline. The URL goes into curl's config syntax inside
 * double quotes, so quotes, backslashes and whitespace are refused (presigned URLs are percent-encoded anyway).
 * The URL and its signature are registered as secrets, so they are masked wherever they might be printed.
 */
export function pullInput(url: string): string {
  if (!/^https?:\/\/[^\s"\\]+$/.test(url)) throw new DeliverError('the presigned release URL has an unexpected form (not http(s), or quotes/spaces in it)');
  addSecret(url);
  addSecret(/[?&]X-Amz-Signature=([^&]+)/i.exec(url)?.[1]);
  return `${url}\n`;
}

/**
 * Downloads the URL given on stdin to `tarPath` with curl, else wget (detected here, in the same round trip).
 * Success: exit 0 with the file in place. Failure: exit EXIT_DOWNLOAD, the partial file gone, and one line on
 * stderr naming the tool and the HTTP status with S3's error code (`HTTP 403 AccessDenied`) or the tool's own
 * error (`curl: (7) Failed to connect to s3.example.com port 443`), with any URL in it replaced by `<url>`.
 */
export function pullCommand(tarPath: string): Shell {
  const fail = raw(`exit ${EXIT_DOWNLOAD}`);
  // Tool output is captured in a variable (no log file to clean up after an interrupt). curl appends the status
  // as the last line (-w); wget's -S headers carry it. S3's <Code> comes from the error body saved to the file.
  const curl = chain(
    raw('via=curl'),
    raw(`o=$(printf 'url = "%s"\\n' "$u" | curl -sS -K - --connect-timeout 10 --retry 2 -o "$t" -w '\\n%{http_code}' 2>&1)`),
    raw('r=$?'),
    raw(`c=$(printf '%s\\n' "$o" | tail -n 1)`),
    raw(`o=$(printf '%s\\n' "$o" | sed '$d')`),
  );
  const wget = chain(
    raw('via=wget'),
    raw(`o=$(printf '%s\\n' "$u" | wget -nv -S --content-on-error -T 30 -t 3 -O "$t" -i - 2>&1)`),
    raw('r=$?'),
    raw(`c=$(printf '%s\\n' "$o" | sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' | tail -n 1)`),
  );
  const neither = chain(raw(`echo 'cannot download the release: neither curl nor wget is installed on this host' >&2`), fail);
  return chain(
    or(raw('IFS= read -r u'), chain(raw(`echo 'no download URL on stdin' >&2`), fail)),
    sh`t=${tarPath}`,
    ifThen(raw('command -v curl >/dev/null 2>&1'), curl, ifThen(raw('command -v wget >/dev/null 2>&1'), wget, neither)),
    // The URL is forgotten as soon as the tool is done with it.
    raw('u='),
    caseOf(raw('"$r:$c"'), [[raw('0:2??'), raw('exit 0')]]),
    caseOf(raw('"$c"'), [
      [raw('[345]??'), chain(raw(`s=$(head -c 4096 "$t" 2>/dev/null | sed -n 's/.*<Code>\\([A-Za-z0-9]*\\)<\\/Code>.*/\\1/p' | head -n 1)`), raw('m="HTTP $c${s:+ $s}"'))],
      [raw('*'), chain(raw(`m=$(printf '%s\\n' "$o" | grep -v '^ ' | sed 's|[A-Za-z][A-Za-z0-9+.-]*://[^ ]*|<url>|g' | grep -v '^ *$' | tail -n 1)`), raw('m="${m:-exit $r}"'))],
    ]),
    raw('rm -f "$t"'),
    raw(`echo "download failed ($via): $m" >&2`),
    fail,
  );
}

/** The one-line reason from the download script's stderr (its last line), for the host's error. */
export function pullFailure(stderr: string, code: number): string {
  const line = stderr.trim().split('\n').filter((l) => l.trim() !== '').pop()?.trim();
  return line ?? `download failed (exit ${code})`;
}
