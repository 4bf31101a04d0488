#!/usr/bin/env node
// Entry point of `npx tunemesh`: runs the compiled CLI (built by `npm install` through the
// prepare script, or `npm run build`).
import '../dist/cli/main.js';
