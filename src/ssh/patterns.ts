// OpenSSH's pattern language (ssh_config `Host`, `Match host`, known_hosts host fields): `*` and `?` wildcards,
// `!` negation, comma-separated lists. Host names compare case-insensitively, as OpenSSH lowercases them.

const cache = new Map<string, RegExp>();

/** Does `text` match one wildcard pattern (`*` = any run, `?` = one character)? */
export function matchWildcard(text: string, pattern: string, caseInsensitive = true): boolean {
  const key = `${caseInsensitive ? 'i' : 's'}:${pattern}`;
  let re = cache.get(key);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, caseInsensitive ? 'is' : 's');
    cache.set(key, re);
  }
  return re.test(text);
}

/**
 * OpenSSH's match_pattern_list over already-split patterns: a matching negated pattern vetoes the whole list,
 * otherwise any matching positive pattern wins.
 */
export function matchPatternList(text: string, patterns: readonly string[], caseInsensitive = true): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchWildcard(text, p.slice(1), caseInsensitive)) return false;
    } else if (matchWildcard(text, p, caseInsensitive)) {
      matched = true;
    }
  }
  return matched;
}

/** Splits a comma-separated pattern list (`a,b,!c`), dropping empty items. */
export function splitPatternList(list: string): string[] {
  return list.split(',').filter((p) => p !== '');
}
