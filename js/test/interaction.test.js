import { test } from "node:test";
import assert from "node:assert/strict";
import { Coalescer, Latest, dragMode, newViewId, recentFps, wheelFactor } from "../src/interaction.js";

function fakeClock() {
  const timers = [];
  return {
    schedule: (fn, ms) => { timers.push(fn); return timers.length; },
    cancel: (handle) => { timers[handle - 1] = null; },
    fire: () => { const pending = timers.splice(0); pending.forEach((fn) => fn && fn()); },
  };
}

test("a burst of drags becomes one summed message per interval", () => {
  const sent = [];
  const clock = fakeClock();
  const coalescer = new Coalescer((m) => sent.push(m), 20, clock.schedule, clock.cancel);
  for (let i = 0; i < 10; i++) coalescer.push({ type: "orbit", dx: 2, dy: -1 });
  assert.equal(sent.length, 0);
  clock.fire();
  assert.deepEqual(sent, [{ type: "orbit", dx: 20, dy: -10 }]);
  clock.fire();
  assert.equal(sent.length, 1); // nothing new pending, nothing sent
});

test("zoom factors multiply, kinds stay apart, flush sends at once", () => {
  const sent = [];
  const clock = fakeClock();
  const coalescer = new Coalescer((m) => sent.push(m), 20, clock.schedule, clock.cancel);
  coalescer.push({ type: "zoom", factor: 2 });
  coalescer.push({ type: "zoom", factor: 1.5 });
  coalescer.push({ type: "pan", dx: 3, dy: 4 });
  coalescer.flush();
  assert.deepEqual(sent, [{ type: "zoom", factor: 3 }, { type: "pan", dx: 3, dy: 4 }]);
  clock.fire();
  assert.equal(sent.length, 2); // the flushed timer was cancelled
});

test("wheel up zooms in, deltas are clamped and NaN ignored", () => {
  assert.ok(wheelFactor(-100) > 1);
  assert.ok(wheelFactor(100) < 1);
  assert.equal(wheelFactor(1e9), wheelFactor(500));
  assert.equal(wheelFactor(NaN), 1);
  assert.equal(wheelFactor(-3, 1), wheelFactor(-48)); // line mode
  assert.ok(Math.abs(wheelFactor(100) * wheelFactor(-100) - 1) < 1e-12); // up then down returns
});

test("drag modes", () => {
  assert.equal(dragMode(0, false), "orbit");
  assert.equal(dragMode(0, true), "pan");
  assert.equal(dragMode(2, false), "pan");
});

test("fps counts the last second of activity, not the idle time before it", () => {
  assert.equal(recentFps([0, 100, 200]), 10);
  assert.equal(recentFps([5]), 0);
  const burst = [0, 10_000, 10_050, 10_100, 10_150, 10_200]; // one old frame, then 20 fps
  assert.equal(recentFps(burst), 20);
});

test("view ids are short, distinct strings", () => {
  let x = 0;
  const ids = new Set([1, 2, 3].map(() => newViewId(() => (x += 0.25))));
  assert.equal(ids.size, 3);
  for (const id of ids) assert.ok(id.length <= 12 && id.startsWith("v"));
});

test("default timers work when called through the instance (as browsers require)", async () => {
  const sent = [];
  const coalescer = new Coalescer((m) => sent.push(m), 5);
  coalescer.push({ type: "orbit", dx: 1, dy: 1 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(sent, [{ type: "orbit", dx: 1, dy: 1 }]);
});

test("a resting pointer's positions: only the latest goes out, once per interval", () => {
  const sent = [];
  const clock = fakeClock();
  const latest = new Latest((v) => sent.push(v), 80, clock.schedule, clock.cancel);
  latest.push({ x: 0.1, y: 0.1 });
  latest.push({ x: 0.2, y: 0.3 });
  assert.equal(sent.length, 0);
  clock.fire();
  assert.deepEqual(sent, [{ x: 0.2, y: 0.3 }]);
  latest.push({ x: 0.5, y: 0.5 });
  latest.dispose(); // the view went away: nothing more is sent
  clock.fire();
  assert.equal(sent.length, 1);
});
