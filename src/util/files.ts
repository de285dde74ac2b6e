import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { UserError } from './errors.js';

/** The first `bytes` bytes of a file (fewer if it is shorter): enough to tell its format by its magic. */
export function readHead(path: string, bytes: number): Buffer {
  const head = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, head, 0, bytes, 0);
    return head.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Write all of `bytes` at the file position (writeSync may write fewer than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** A JSON file's value; a UTF-8 byte-order mark (as some editors save JSON) is not part of the text. Throws as JSON.parse and readFileSync do. */
export function readJsonFile(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
}

/** A text file's contents (UTF-8), or one line naming the file and why it cannot be read. */
export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
