#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point of `npx tunemesh`: runs the compiled CLI (built by `npm install` through the
// prepare script, or `npm run build`). Small young-generation semi-spaces keep a daemon that
// streams through many short-lived 16 kB buffers ~30 MB smaller at no measurable cost (README).
import '../dist/cli/main.js';
