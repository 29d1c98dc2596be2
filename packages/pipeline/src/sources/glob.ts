import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { SourceError } from './record.js';

/**
 * A source path with `*`, `?` or `**` as the files it matches, in sorted order (the order records are numbered
 * in, so it must not depend on the file system's listing order); a plain path is returned as is.
 */
export function expandGlob(pattern: string): string[] {
  if (!isDynamicPattern(pattern)) return [relative(process.cwd(), pattern) || pattern];
  const files = globSync(pattern, { absolute: true, onlyFiles: true, expandDirectories: false, dot: false }).sort();
  if (!files.length) throw new SourceError(`${pattern}: no files match`);
  return files.map((f) => relative(process.cwd(), f) || f);
}

/** The files of a source path, each checked to be a readable regular file, before anything is opened for writing. */
export function sourceFiles(pattern: string): string[] {
  const files = expandGlob(pattern);
  for (const file of files) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat) throw new SourceError(`${file}: no such file`);
    if (stat.isDirectory()) throw new SourceError(`${file}: is a directory; a source is a file or a glob such as "${file}/*.txt"`);
    if (!stat.isFile()) throw new SourceError(`${file}: not a regular file`);
  }
  return files;
}
