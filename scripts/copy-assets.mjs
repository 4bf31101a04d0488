// Copies the files the compiled code reads at run time (the player page) next to it in dist/.
import { cpSync } from 'node:fs';

cpSync('src/client/web', 'dist/client/web', { recursive: true });
