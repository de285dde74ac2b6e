import { closeSync, openSync, readSync } from 'node:fs';

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
