#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { main } from '../dist/src/cli/main.js';
// Output piped into a reader that stops early (`| head`): stop quietly, as other command-line tools do.
for (const stream of [process.stdout, process.stderr]) stream.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); else throw err; });
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
