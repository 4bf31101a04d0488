/**
 * Upload slots: the client serves at most `maxUploads` peers at once (DESIGN §3 "uploads";
 * Spotify P2P'10, in the lecture notes: "A client uploads to at most 4 peers at any given time",
 * which "helps Spotify behaving nicely with concurrent application streams"), and stops
 * uploading altogether while its own playback buffer is low (DESIGN §3 "buffer low"; P2P'10
 * slides: "If buffer is very low, stop uploading"; lecture notes: emergency mode "stops uploading
 * to the other peers", useful on asymmetric links whose download suffers from concurrent
 * uploads).
 *
 * Peers that find every slot taken wait in a short queue, most urgent first; beyond it they are
 * refused at once so they ask another peer or the AP (P2P'10: a slow request is re-sent
 * elsewhere). Pure bookkeeping: the runtime asks, serves and tells.
 */
import type { TunemeshConfig } from './config.ts';

/** The slice of the config the upload slots read. */
export type UploadSlotsConfig = Pick<TunemeshConfig, 'maxUploads' | 'uploadQueueLength'>;

/** The answer to a request for a slot. */
export type SlotGrant = 'granted' | 'queued' | 'refused';

/**
 * Why the last request was refused: every slot and queue place taken by peers at least as urgent
 * (`queue-full`), or the client is in emergency mode and uploads nothing (`emergency`).
 */
export type RefusalReason = 'queue-full' | 'emergency';

interface Waiting {
  readonly peerId: string;
  /** 0 = most urgent, as in `chunk-request` messages. */
  urgency: number;
  readonly arrivedAt: number;
  /** Breaks ties between arrivals in the same ms. */
  readonly seq: number;
}

/** At most `maxUploads` peers served at once, a bounded wait queue, and an emergency stop. */
export class UploadSlots {
  private readonly maxUploads: number;
  private readonly queueLength: number;
  private readonly holders = new Set<string>();
  /** Sorted: most urgent first, then earliest arrival. Short (`uploadQueueLength`), so an array. */
  private readonly waiting: Waiting[] = [];
  private seq = 0;
  private emergencyOn = false;
  private refusal: RefusalReason | undefined;

  constructor(config: UploadSlotsConfig) {
    if (!Number.isInteger(config.maxUploads) || config.maxUploads < 0) {
      throw new RangeError(`maxUploads must be an integer >= 0, got ${config.maxUploads}`);
    }
    if (!Number.isInteger(config.uploadQueueLength) || config.uploadQueueLength < 0) {
      throw new RangeError(`uploadQueueLength must be an integer >= 0, got ${config.uploadQueueLength}`);
    }
    this.maxUploads = config.maxUploads;
    this.queueLength = config.uploadQueueLength;
  }

  /** Peers holding a slot now; never more than `maxUploads`. */
  get active(): number {
    return this.holders.size;
  }

  /** Peers waiting for a slot; never more than `uploadQueueLength`. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Whether emergency mode is on (no uploads at all). */
  get emergency(): boolean {
    return this.emergencyOn;
  }

  /** Why the most recent `tryAcquire` answered `refused`; undefined after any other answer. */
  get refusalReason(): RefusalReason | undefined {
    return this.refusal;
  }

  /** Whether the peer holds a slot. */
  holds(peerId: string): boolean {
    return this.holders.has(peerId);
  }

  /** Whether the peer waits in the queue. */
  isQueued(peerId: string): boolean {
    return this.waiting.some((w) => w.peerId === peerId);
  }

  /**
   * A peer asks to be served. `urgency`: 0 = most urgent (as in `chunk-request`). A slot holder is
   * granted again (one slot per peer, however many requests it has open). A peer already waiting
   * keeps its place in arrival order and moves up if this request is more urgent. Otherwise:
   * granted while a slot is free, queued while the queue has room, else refused. In emergency
   * mode every request is refused (see `refusalReason`).
   */
  tryAcquire(peerId: string, urgency: number, now: number): SlotGrant {
    if (!Number.isFinite(urgency)) throw new RangeError(`urgency must be a finite number, got ${urgency}`);
    if (!Number.isFinite(now)) throw new RangeError(`time must be a finite number of ms, got ${now}`);
    if (this.emergencyOn) return this.refuse('emergency');
    this.refusal = undefined;
    if (this.holders.has(peerId)) return 'granted';
    const i = this.waiting.findIndex((w) => w.peerId === peerId);
    if (i >= 0) {
      const w = this.waiting[i];
      if (urgency < w.urgency) {
        this.waiting.splice(i, 1);
        w.urgency = urgency;
        this.insert(w);
      }
      return 'queued';
    }
    // The queue is only ever non-empty while every slot is taken (a release hands its slot to
    // the head at once), so a free slot means nobody is waiting for it.
    if (this.holders.size < this.maxUploads) {
      this.holders.add(peerId);
      return 'granted';
    }
    if (this.waiting.length < this.queueLength) {
      this.insert({ peerId, urgency, arrivedAt: now, seq: this.seq++ });
      return 'queued';
    }
    return this.refuse('queue-full');
  }

  /**
   * A slot holder is done (its requests are served, or its link closed). Its slot goes to the
   * head of the queue, whose id is returned so the runtime serves its waiting requests; undefined
   * if the peer held no slot or nobody waits.
   */
  release(peerId: string): string | undefined {
    if (!this.holders.delete(peerId)) return undefined;
    return this.grantNext();
  }

  /**
   * A waiting peer gives up (its requests were cancelled or its link closed): it leaves the
   * queue. Only the queue: a slot holder gives its slot back with `release`, which hands it on.
   * False if the peer was not waiting.
   */
  cancel(peerId: string): boolean {
    const i = this.waiting.findIndex((w) => w.peerId === peerId);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  /**
   * Turns emergency mode on or off (DESIGN §3 "buffer low": stop uploading). Turning it on takes
   * every slot and queue place away and returns those peers, so the runtime stops their uploads
   * and answers their pending requests "busy"; they fetch elsewhere rather than wait an unknown
   * time. While on, every request is refused. Turning it off returns nothing to serve: the queue
   * is empty, and new requests are granted again.
   */
  setEmergency(on: boolean): string[] {
    if (on === this.emergencyOn) return [];
    this.emergencyOn = on;
    if (!on) return [];
    const revoked = [...this.holders, ...this.waiting.map((w) => w.peerId)];
    this.holders.clear();
    this.waiting.length = 0;
    return revoked;
  }

  private grantNext(): string | undefined {
    if (this.emergencyOn || this.holders.size >= this.maxUploads) return undefined;
    const next = this.waiting.shift();
    if (!next) return undefined;
    this.holders.add(next.peerId);
    return next.peerId;
  }

  private refuse(reason: RefusalReason): SlotGrant {
    this.refusal = reason;
    return 'refused';
  }

  /** Inserts in order: lower urgency value first, then earlier arrival, then earlier request. */
  private insert(w: Waiting): void {
    let i = this.waiting.length;
    while (i > 0 && before(w, this.waiting[i - 1])) i--;
    this.waiting.splice(i, 0, w);
  }
}

function before(a: Waiting, b: Waiting): boolean {
  return a.urgency !== b.urgency ? a.urgency < b.urgency : a.arrivedAt !== b.arrivedAt ? a.arrivedAt < b.arrivedAt : a.seq < b.seq;
}
