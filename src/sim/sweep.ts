/**
 * Sweep specs of `tunemesh sim --sweep` (issue 5 item 6): the variants a parameter study runs
 * side by side with one seed.
 *
 * - `key=v1,v2,...` — a numeric config value (DESIGN §3), e.g. `trackerMemory=20,5` or
 *   `searchHops=2,1`;
 * - `tracker=on,off`, `overlay=on,off`, `prefetch=on,off` — a scenario switch;
 * - `scenarios` — baseline, prefetch off, tracker only (overlay off), overlay only (tracker off).
 */
import { defaultConfig, type TunemeshConfig } from '../core/config.ts';

/** A spec that cannot be run; the message says why and what would be accepted. */
export class SweepSpecError extends Error {
  override name = 'SweepSpecError';
}

/** What a run is made with apart from its size and seed. */
export interface Scenario {
  tracker: boolean;
  overlay: boolean;
  prefetch: boolean;
  overrides: Partial<TunemeshConfig>;
}

export interface SweepVariant extends Scenario {
  /** Column heading and `<out>/<label>/` folder name. */
  label: string;
}

/** Most runs one sweep makes. */
export const MAX_VARIANTS = 16;

const SWITCHES = ['tracker', 'overlay', 'prefetch'] as const;
type Switch = (typeof SWITCHES)[number];

const NAMED: Record<string, (base: Scenario) => SweepVariant[]> = {
  scenarios: (base) => [
    { ...base, label: 'baseline' },
    { ...base, prefetch: false, label: 'prefetch off' },
    { ...base, overlay: false, label: 'tracker only' },
    { ...base, tracker: false, label: 'overlay only' },
  ],
};

/** Numeric fields of the config a sweep (or `--set`) may vary. */
export function numericConfigKeys(): string[] {
  return Object.keys(defaultConfig).filter((k) => typeof defaultConfig[k as keyof TunemeshConfig] === 'number');
}

function parseBool(key: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(s)) return true;
  if (['off', 'false', 'no', '0'].includes(s)) return false;
  throw new SweepSpecError(`${key}: "${v}" is not on or off`);
}

/**
 * The variants of a sweep spec, each built on `base` (the run's `--set` values and `--no-*`
 * switches). Refuses unknown keys and names, non-numbers, repeated values, fewer than two
 * variants, and a key the base already sets (its `--set` would be silently replaced).
 */
export function parseSweep(spec: string, base: Scenario): SweepVariant[] {
  const s = spec.trim();
  if (s === '') throw new SweepSpecError('empty sweep spec (expected key=v1,v2,... or scenarios)');
  const named = NAMED[s.toLowerCase()];
  if (named) {
    const off = SWITCHES.filter((k) => !base[k]);
    if (off.length) throw new SweepSpecError(`--sweep ${s} switches tracker, overlay and prefetch itself; drop --no-${off.join(', --no-')}`);
    return named(base);
  }
  const m = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/s.exec(s);
  if (!m) throw new SweepSpecError(`not a sweep spec: "${spec}" (expected key=v1,v2,... such as trackerMemory=20,5, or ${Object.keys(NAMED).join(', ')})`);
  const key = m[1]!;
  const raw = m[2]!.split(',').map((v) => v.trim());
  if (raw.some((v) => v === '')) throw new SweepSpecError(`${key}: empty value in "${m[2]}" (expected a comma-separated list such as ${key}=1,2)`);
  if (raw.length < 2) throw new SweepSpecError(`${key}: a sweep needs at least two values (got ${raw.length}); for one value use --set ${key}=${raw[0] ?? '…'}`);
  if (raw.length > MAX_VARIANTS) throw new SweepSpecError(`${key}: at most ${MAX_VARIANTS} values in one sweep (got ${raw.length})`);

  if ((SWITCHES as readonly string[]).includes(key)) {
    const k = key as Switch;
    if (!base[k]) throw new SweepSpecError(`--sweep ${k}=... and --no-${k} contradict each other`);
    const values = raw.map((v) => parseBool(k, v));
    if (new Set(values).size !== values.length) throw new SweepSpecError(`${k}: a value is repeated in "${m[2]}"`);
    return values.map((v) => ({ ...base, [k]: v, label: `${k} ${v ? 'on' : 'off'}` }));
  }

  if (!Object.hasOwn(defaultConfig, key) || typeof defaultConfig[key as keyof TunemeshConfig] !== 'number') {
    const near = numericConfigKeys().filter((k) => k.toLowerCase() === key.toLowerCase());
    throw new SweepSpecError(
      `unknown config field ${key}` +
        (near.length ? ` (did you mean ${near[0]}?)` : ` (a sweep takes one of: ${[...SWITCHES, ...numericConfigKeys()].join(', ')}; or ${Object.keys(NAMED).join(', ')})`),
    );
  }
  const k = key as keyof TunemeshConfig;
  if (Object.hasOwn(base.overrides, k)) throw new SweepSpecError(`${k} is both set (--set ${k}=${String(base.overrides[k])}) and swept; drop one`);
  const values = raw.map((v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new SweepSpecError(`${k}: "${v}" is not a number >= 0`);
    return n;
  });
  if (new Set(values).size !== values.length) throw new SweepSpecError(`${k}: a value is repeated in "${m[2]}"`);
  return values.map((v) => ({ ...base, overrides: { ...base.overrides, [k]: v }, label: `${k}=${v}` }));
}

/** The label of a single run: `baseline`, or what it changes (`no tracker, trackerMemory=5`). */
export function scenarioLabel(s: Scenario): string {
  const parts = [...SWITCHES.filter((k) => !s[k]).map((k) => `no ${k}`), ...Object.entries(s.overrides).map(([k, v]) => `${k}=${String(v)}`)];
  return parts.length ? parts.join(', ') : 'baseline';
}
