// Weights the engine derives from a model folder's files, kept beside the graph in its cache
// folder as ONNX external data: quantized codes, and float32 copies of 16-bit weights. Each
// process appends to a file of its own (two processes deriving one model at once never write to
// the same file); a JSON index lets the next process reuse what is there. A torn index (a killed
// process) or an entry pointing past its file's end is dropped, and those weights are derived again.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAll } from '../util/files.js';
import type { ExternalRef } from './onnx/builder.js';

export class DerivedWeights<E> {
  private readonly entries = new Map<string, E>();

  /** `label` names the files (`LABEL-PID.bin`, `LABEL.json`); `refsOf` lists the file ranges an entry needs. */
  constructor(
    private readonly dir: string,
    private readonly label: string,
    private readonly refsOf: (entry: E) => ExternalRef[],
  ) {
    const index = join(dir, `${label}.json`);
    if (!existsSync(index)) return;
    try {
      const sizes = new Map<string, number>();
      const sizeOf = (location: string) => {
        if (!sizes.has(location)) sizes.set(location, existsSync(join(dir, location)) ? statSync(join(dir, location)).size : -1);
        return sizes.get(location)!;
      };
      for (const [key, e] of Object.entries(JSON.parse(readFileSync(index, 'utf8')) as Record<string, E>)) {
        if (refsOf(e).every((r) => !r.location.includes('/') && r.offset + r.length <= sizeOf(r.location))) this.entries.set(key, e);
      }
    } catch {
      // Rebuilt: the weights are derived again and appended.
    }
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  /** Append each byte array (64-byte aligned) to this process's file and record the entry made from their ranges. */
  add(key: string, parts: Uint8Array[], make: (refs: ExternalRef[]) => E): E {
    const location = `${this.label}-${process.pid}.bin`;
    const fd = openSync(join(this.dir, location), 'a');
    let entry: E;
    try {
      let offset = fstatSync(fd).size;
      const refs = parts.map((bytes) => {
        const pad = (64 - (offset % 64)) % 64;
        if (pad) writeAll(fd, new Uint8Array(pad));
        const ref = { location, offset: offset + pad, length: bytes.byteLength };
        writeAll(fd, bytes);
        offset += pad + bytes.byteLength;
        return ref;
      });
      entry = make(refs);
    } finally {
      closeSync(fd);
    }
    this.entries.set(key, entry);
    return entry;
  }

  /** Write the index (atomically). */
  save(): void {
    const tmp = join(this.dir, `${this.label}.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries)));
    renameSync(tmp, join(this.dir, `${this.label}.json`));
  }
}
