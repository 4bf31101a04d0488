/** Option parsers and process helpers shared by the CLI commands. */
import { InvalidArgumentError } from 'commander';
import { defaultConfig, type TunemeshConfig } from '../core/config.ts';

/** A TCP port, 0-65535. */
export function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port number (0-65535)');
  return n;
}

/** A whole number >= 0. */
export function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('not a number >= 0');
  return n;
}

/** A size such as 500MB, 2GiB or 1048576 (bytes). */
export function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(v);
  if (!m) throw new InvalidArgumentError('not a size (examples: 500MB, 2GB, 1048576)');
  const unit = (m[2] ?? '').toLowerCase().replace(/i?b$/, '');
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit];
  if (mult === undefined) throw new InvalidArgumentError('unknown size unit');
  return Math.round(Number(m[1]) * mult);
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`tunemesh: shutdown: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/**
 * Collects `--set key=value` config overrides: any numeric field of the config (DESIGN §3), for
 * operators, tests and parameter studies. Unknown keys and non-numbers are refused.
 */
export function collectConfigOverride(v: string, previous: Partial<TunemeshConfig> = {}): Partial<TunemeshConfig> {
  const m = /^([A-Za-z]+)=(.+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected key=value, e.g. neighbourSoftLimit=50');
  const key = m[1] as keyof TunemeshConfig;
  if (!Object.hasOwn(defaultConfig, key) || typeof defaultConfig[key] !== 'number') {
    const known = Object.keys(defaultConfig).filter((k) => typeof defaultConfig[k as keyof TunemeshConfig] === 'number');
    throw new InvalidArgumentError(`unknown config field ${m[1]} (numeric fields: ${known.join(', ')})`);
  }
  const n = Number(m[2]);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${m[1]} must be a number >= 0`);
  return { ...previous, [key]: n };
}
