// Every entry of a directory tree as comparable text: type, permission bits, content digest or link target.
// Two release roots with equal trees are byte-identical for a node (mtimes aside).
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** `path → "f 644 <sha256>" | "d 755" | "l -> target"`; top-level `.deliver-*` files (deliver's own) left out. */
export function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      if (!rel && name.startsWith('.deliver-')) continue;
      const st = lstatSync(join(dir, p));
      if (st.isSymbolicLink()) out[p] = `l -> ${readlinkSync(join(dir, p))}`;
      else if (st.isDirectory()) {
        out[p] = `d ${(st.mode & 0o7777).toString(8)}`;
        walk(p);
      } else out[p] = `f ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')}`;
    }
  };
  walk('');
  return out;
}
