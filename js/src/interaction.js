// Input coalescing for VolumeView: pointer and wheel events are summed and flushed at most
// once per interval (the widget uses one animation frame), so the kernel gets one message per
// frame instead of one per event.
// Pure logic (no DOM), tested with node's test runner.

/** @typedef {{type: "orbit"|"pan", dx: number, dy: number} | {type: "zoom", factor: number}} Motion */

export const COALESCE_MS = 20;
export const WHEEL_ZOOM_PER_PIXEL = 0.002;

/** Zoom factor for a wheel delta in pixels (scrolling up, negative deltaY, zooms in). */
export function wheelFactor(deltaY, deltaMode = 0) {
  const pixels = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  const clamped = Math.max(-500, Math.min(500, Number.isFinite(pixels) ? pixels : 0));
  return Math.exp(-clamped * WHEEL_ZOOM_PER_PIXEL);
}

/** Which motion a drag makes: left drags orbit; right, middle or shift-left drags pan. */
export function dragMode(button, shiftKey) {
  return button === 2 || button === 1 || shiftKey ? "pan" : "orbit";
}

/**
 * Sums motions and hands them to `send` at most once per interval.
 * `schedule(fn, ms)` and `cancel(handle)` default to setTimeout/clearTimeout (injectable for tests).
 */
export class Coalescer {
  constructor(send, intervalMs = COALESCE_MS, schedule = (fn, ms) => setTimeout(fn, ms),
              cancel = (handle) => clearTimeout(handle)) {
    // Wrapped: browsers throw "Illegal invocation" for setTimeout called as a method of another object.
    this.send = send;
    this.intervalMs = intervalMs;
    this.schedule = schedule;
    this.cancel = cancel;
    this.pending = new Map(); // type -> accumulated motion
    this.timer = null;
  }

  /** @param {Motion} motion */
  push(motion) {
    const previous = this.pending.get(motion.type);
    if (motion.type === "zoom") {
      this.pending.set("zoom", { type: "zoom", factor: (previous ? previous.factor : 1) * motion.factor });
    } else {
      this.pending.set(motion.type, {
        type: motion.type,
        dx: (previous ? previous.dx : 0) + motion.dx,
        dy: (previous ? previous.dy : 0) + motion.dy,
      });
    }
    if (this.timer === null) {
      this.timer = this.schedule(() => this.flush(), this.intervalMs);
    }
  }

  /** Send everything pending now (also called when a drag ends). */
  flush() {
    if (this.timer !== null) {
      this.cancel(this.timer);
      this.timer = null;
    }
    for (const motion of this.pending.values()) {
      this.send(motion);
    }
    this.pending.clear();
  }

  dispose() {
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
    this.pending.clear();
  }
}

/**
 * Hands the latest of a stream of values to `send` at most once per interval (the pointer's
 * position while it rests over the view: what is under it now, not every position on the way).
 */
export class Latest {
  constructor(send, intervalMs, schedule = (fn, ms) => setTimeout(fn, ms), cancel = (handle) => clearTimeout(handle)) {
    this.send = send;
    this.intervalMs = intervalMs;
    this.schedule = schedule;
    this.cancel = cancel;
    this.value = undefined;
    this.timer = null;
  }

  push(value) {
    this.value = value;
    if (this.timer === null) {
      this.timer = this.schedule(() => {
        this.timer = null;
        this.send(this.value);
      }, this.intervalMs);
    }
  }

  dispose() {
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
  }
}

/**
 * Frames per second over the last second of activity: the frames drawn within `windowMs` before
 * the latest one (idle time before a burst does not dilute it). `times` are in ms, oldest first.
 */
export function recentFps(times, windowMs = 1000) {
  if (times.length < 2) return 0;
  const last = times[times.length - 1];
  const recent = times.filter((t) => t >= last - windowMs);
  const span = recent[recent.length - 1] - recent[0];
  return recent.length > 1 && span > 0 ? ((recent.length - 1) * 1000) / span : 0;
}

/** A short random id for one displayed view of a model (visibility is tracked per view). */
export function newViewId(random = Math.random) {
  return `v${Math.floor(random() * 2 ** 40).toString(36)}`;
}
