/** The real monotonic clock, for the runtime; cores receive it as a `Clock`. */
import type { Clock } from '../core/clock.ts';

export const systemClock: Clock = { now: () => performance.now() };
