import { test } from "node:test";
import assert from "node:assert/strict";
import {
  NewestImage, combineCleanups, decodeImage, errorBox, focusedWheel, listen, listenModel, pageTheme, pointerDrag, shownSize,
  releaseImage,
} from "../src/dom.js";
import { ControlledDecoder, FakeElement, FakeModel, settle } from "./fake_dom.js";

const fakeDocument = () => ({ activeElement: null, createElement: (tag) => new FakeElement(tag, fakeDocument) });

function pointer(type, { x = 0, y = 0, button = 0, pointerId = 1 } = {}) {
  const event = new Event(type, { cancelable: true });
  return Object.assign(event, { clientX: x, clientY: y, button, pointerId, shiftKey: false });
}

test("listen adds every listener and its cleanup removes exactly those, once", () => {
  const a = new FakeElement("div", fakeDocument());
  const b = new FakeElement("div", fakeDocument());
  const calls = [];
  const cleanup = listen([
    [a, "click", () => calls.push("a")],
    [b, "keydown", () => calls.push("b"), { capture: true }],
  ]);
  a.dispatchEvent(new Event("click"));
  b.dispatchEvent(new Event("keydown"));
  assert.deepEqual(calls, ["a", "b"]);
  assert.equal(a.listenerCount + b.listenerCount, 2);
  cleanup();
  cleanup(); // harmless
  assert.equal(a.listenerCount + b.listenerCount, 0);
  a.dispatchEvent(new Event("click"));
  assert.deepEqual(calls, ["a", "b"]);
});

test("listenModel unsubscribes every model event", () => {
  const model = new FakeModel({});
  const seen = [];
  const cleanup = listenModel(model, [["change:error", () => seen.push(1)], ["msg:custom", () => seen.push(2)]]);
  model.trigger("change:error");
  model.trigger("msg:custom");
  cleanup();
  model.trigger("change:error");
  assert.deepEqual(seen, [1, 2]);
  assert.equal(model.handlerCount(), 0);
});

test("combineCleanups runs all, last first, even when one throws, then rethrows the first error", () => {
  const order = [];
  const cleanup = combineCleanups([
    () => order.push(1),
    () => { order.push(2); throw new Error("two"); },
    () => order.push(3),
  ]);
  assert.throws(cleanup, /two/);
  assert.deepEqual(order, [3, 2, 1]);
  cleanup(); // once only
  assert.deepEqual(order, [3, 2, 1]);
});

test("pointerDrag focuses, captures the pointer, reports steps and releases on up or cancel", () => {
  const doc = fakeDocument();
  const root = new FakeElement("div", doc);
  const canvas = new FakeElement("canvas", doc);
  const log = [];
  const cleanup = pointerDrag(canvas, {
    focus: root,
    start: (event) => log.push(["start", event.button]),
    move: (event, dx, dy) => log.push(["move", dx, dy]),
    end: () => log.push(["end"]),
  });
  canvas.dispatchEvent(pointer("pointermove", { x: 5, y: 5 })); // no button down: not a drag
  const down = pointer("pointerdown", { x: 10, y: 20, button: 2, pointerId: 7 });
  canvas.dispatchEvent(down);
  assert.equal(doc.activeElement, root);
  assert.ok(canvas.hasPointerCapture(7));
  assert.ok(down.defaultPrevented);
  canvas.dispatchEvent(pointer("pointermove", { x: 13, y: 16, pointerId: 7 }));
  canvas.dispatchEvent(pointer("pointermove", { x: 14, y: 16, pointerId: 7 }));
  canvas.dispatchEvent(pointer("pointercancel", { pointerId: 7 }));
  assert.ok(!canvas.hasPointerCapture(7));
  canvas.dispatchEvent(pointer("pointerup", { pointerId: 7 })); // already ended
  assert.deepEqual(log, [["start", 2], ["move", 3, -4], ["move", 1, 0], ["end"]]);
  cleanup();
  assert.equal(canvas.listenerCount, 0);
});

test("pointerDrag: start returning false ignores the press; a failing capture does not stop the drag", () => {
  const canvas = new FakeElement("canvas", fakeDocument());
  canvas.setPointerCapture = () => { throw new Error("InvalidStateError"); };
  let allow = false;
  const moves = [];
  pointerDrag(canvas, { start: () => allow, move: (e, dx) => moves.push(dx) });
  canvas.dispatchEvent(pointer("pointerdown", { x: 0 }));
  canvas.dispatchEvent(pointer("pointermove", { x: 4 }));
  allow = undefined; // anything but false starts a drag
  canvas.dispatchEvent(pointer("pointerdown", { x: 0 }));
  canvas.dispatchEvent(pointer("pointermove", { x: 4 }));
  assert.deepEqual(moves, [4]);
});

test("focusedWheel leaves the page's scrolling alone until the view has focus", () => {
  const doc = fakeDocument();
  const root = new FakeElement("div", doc);
  const deltas = [];
  const cleanup = focusedWheel(root, (event) => deltas.push(event.deltaY));
  const wheel = () => Object.assign(new Event("wheel", { cancelable: true }), { deltaY: -3 });
  const before = wheel();
  root.dispatchEvent(before);
  assert.equal(before.defaultPrevented, false);
  root.focus();
  const after = wheel();
  root.dispatchEvent(after);
  assert.ok(after.defaultPrevented);
  assert.deepEqual(deltas, [-3]);
  cleanup();
  assert.equal(root.listenerCount, 0);
});

test("focusedWheel also acts while a control inside the view has the focus, not one outside it", () => {
  const doc = fakeDocument();
  const root = new FakeElement("div", doc);
  const inside = root.appendChild(new FakeElement("input", doc));
  const outside = new FakeElement("input", doc);
  const deltas = [];
  focusedWheel(root, (event) => deltas.push(event.deltaY));
  const wheel = () => Object.assign(new Event("wheel", { cancelable: true }), { deltaY: 2 });
  outside.focus();
  root.dispatchEvent(wheel());
  inside.focus();
  const taken = wheel();
  root.dispatchEvent(taken);
  assert.ok(taken.defaultPrevented);
  assert.deepEqual(deltas, [2]);
});

test("errorBox shows the error trait with its prefix, hides when it is empty, and adds reported problems", () => {
  const model = new FakeModel({ error: "" });
  const box = errorBox(model, { prefix: "Slice failed: ", className: "x", doc: fakeDocument() });
  assert.equal(box.element.style.display, "none");
  model.update({ error: "ValueError: bad" });
  assert.equal(box.element.textContent, "Slice failed: ValueError: bad");
  assert.equal(box.element.style.display, "block");
  box.report("An image could not be drawn");
  assert.equal(box.element.textContent, "Slice failed: ValueError: bad\nAn image could not be drawn");
  model.update({ error: "" });
  assert.equal(box.element.textContent, "An image could not be drawn");
  box.report("");
  assert.equal(box.element.style.display, "none");
  box.cleanup();
  assert.equal(model.handlerCount(), 0);
});

test("NewestImage: an older image that finishes decoding last is not drawn over the newer one", async () => {
  const decoder = new ControlledDecoder();
  const drawn = [];
  const images = new NewestImage({ decode: decoder.decode, draw: (image, meta) => drawn.push([image.name, meta.index]) });
  const first = images.push("large, older", { index: 1 });
  const second = images.push("small, newer", { index: 2 });
  await decoder.resolve(1); // the newer, smaller image decodes first
  await decoder.resolve(0);
  assert.deepEqual(drawn, [["image1", 2]]);
  assert.equal(await first, "skipped");
  assert.equal(await second, "drawn");
  assert.deepEqual(decoder.closed.sort(), ["image0", "image1"]); // both released
});

test("NewestImage: images decoding in order are all drawn", async () => {
  const decoder = new ControlledDecoder();
  const drawn = [];
  const images = new NewestImage({ decode: decoder.decode, draw: (image) => drawn.push(image.name) });
  const outcomes = [images.push("a"), images.push("b"), images.push("c")];
  await decoder.resolve(0);
  await decoder.resolve(2);
  await decoder.resolve(1);
  assert.deepEqual(drawn, ["image0", "image2"]);
  assert.deepEqual(await Promise.all(outcomes), ["drawn", "skipped", "drawn"]);
});

test("NewestImage: a decode error is reported, not thrown, and later images still draw", async () => {
  const decoder = new ControlledDecoder();
  const errors = [];
  const drawn = [];
  const images = new NewestImage({
    decode: decoder.decode, draw: (image) => drawn.push(image.name), onError: (err, meta) => errors.push([err.message, meta.n]),
  });
  const bad = images.push("x", { n: 1 });
  await decoder.reject(0, new DOMException("The source image could not be decoded."));
  assert.equal(await bad, "failed");
  assert.deepEqual(errors, [["The source image could not be decoded.", 1]]);
  const good = images.push("y", { n: 2 });
  await decoder.resolve(1);
  assert.equal(await good, "drawn");
  assert.deepEqual(drawn, ["image1"]);
});

test("NewestImage: a draw that throws is reported and its image still released", async () => {
  const decoder = new ControlledDecoder();
  const errors = [];
  const images = new NewestImage({
    decode: decoder.decode, draw: () => { throw new Error("canvas gone"); }, onError: (err) => errors.push(err.message),
  });
  const outcome = images.push("x");
  await decoder.resolve(0);
  assert.equal(await outcome, "failed");
  assert.deepEqual(errors, ["canvas gone"]);
  assert.deepEqual(decoder.closed, ["image0"]);
});

test("NewestImage: given sequence numbers (frame ids) order the images; 0 is older than any frame", async () => {
  const decoder = new ControlledDecoder();
  const drawn = [];
  const images = new NewestImage({ decode: decoder.decode, draw: (image) => drawn.push(image.name) });
  const snapshot = images.push("snapshot", {}, 0);
  const frame = images.push("frame 5", {}, 5);
  await decoder.resolve(1);
  await decoder.resolve(0);
  assert.deepEqual(drawn, ["image1"]);
  assert.equal(await snapshot, "skipped");
  assert.equal(await frame, "drawn");
  const next = images.push("counted"); // one more than the highest given
  await decoder.resolve(2);
  assert.equal(await next, "drawn");
});

test("NewestImage with keep: the newest drawn image stays current until replaced, then it is released", async () => {
  const decoder = new ControlledDecoder();
  const images = new NewestImage({ decode: decoder.decode, draw: () => {}, keep: true });
  images.push("a", { g: 1 });
  await decoder.resolve(0);
  assert.equal(images.current.image.name, "image0");
  assert.deepEqual(images.current.meta, { g: 1 });
  assert.deepEqual(decoder.closed, []);
  images.push("b", { g: 2 });
  images.push("c", { g: 3 });
  await decoder.resolve(2);
  await decoder.resolve(1); // older than the current one: skipped and released
  assert.equal(images.current.image.name, "image2");
  assert.deepEqual(decoder.closed.sort(), ["image0", "image1"]);
  images.dispose();
  assert.equal(images.current, null);
  assert.ok(decoder.closed.includes("image2"));
});

test("NewestImage: images that finish decoding after dispose are released and not drawn", async () => {
  const decoder = new ControlledDecoder();
  let draws = 0;
  const images = new NewestImage({ decode: decoder.decode, draw: () => { draws += 1; } });
  const late = images.push("x");
  const failing = images.push("y");
  images.dispose();
  await decoder.resolve(0);
  await decoder.reject(1);
  assert.equal(await late, "disposed");
  assert.equal(await failing, "disposed");
  assert.equal(draws, 0);
  assert.deepEqual(decoder.closed, ["image0"]);
});

test("decodeImage uses createImageBitmap, else an <img> from an object URL that is always revoked", async () => {
  const blob = new Blob(["png"]);
  assert.equal(await decodeImage(blob, { createImageBitmap: async (b) => ({ from: b }) }).then((r) => r.from), blob);

  const revoked = [];
  let fail = false;
  class Image {
    set src(url) {
      this.url = url;
      setTimeout(() => (fail ? this.onerror() : this.onload()), 0);
    }
  }
  const env = { Image, URL: { createObjectURL: () => `blob:${revoked.length}`, revokeObjectURL: (u) => revoked.push(u) } };
  const image = await decodeImage(blob, env);
  assert.equal(image.url, "blob:0");
  fail = true;
  await assert.rejects(decodeImage(blob, env), /could not be decoded/);
  assert.deepEqual(revoked, ["blob:0", "blob:1"]);
  releaseImage(image); // nothing to close on an <img>
});

test("decodeImage hands bytes to ImageDecoder where there is one, and falls back to a Blob when it fails", async () => {
  const padded = new Uint8Array(24);
  padded.set([137, 80, 78, 71], 17);
  const bytes = new DataView(padded.buffer, 17, 4); // a message's buffer: a view into a larger one
  const made = [];
  class ImageDecoder {
    constructor(init) {
      this.init = init;
      this.closed = false;
      made.push(this);
    }
    async decode() {
      if (this.init.type === "image/broken") throw new Error("unsupported");
      return { image: { frame: this.init.data } };
    }
    close() { this.closed = true; }
  }
  const bitmaps = [];
  const env = { ImageDecoder, Blob, createImageBitmap: async (blob) => (bitmaps.push(blob), { blob }) };
  const frame = await decodeImage({ bytes, type: "image/png" }, env);
  assert.equal(frame.frame, bytes); // the message's bytes themselves: no Blob, no copy here
  assert.equal(bitmaps.length, 0);
  assert.equal(made[0].init.type, "image/png");
  assert.ok(made[0].closed, "the decoder is closed; the frame lives on");
  const fallback = await decodeImage({ bytes, type: "image/broken" }, env);
  assert.equal(fallback.blob.type, "image/broken");
  assert.equal(fallback.blob.size, 4);
  assert.ok(made[1].closed);
  const without = await decodeImage({ bytes, type: "image/jpeg" }, { createImageBitmap: async (blob) => ({ blob }) });
  assert.equal(without.blob.type, "image/jpeg"); // no ImageDecoder (Safari, plain http): a Blob
});

test("a widget closed from Python hides its output once nothing is left in it", async () => {
  const { hideOutputWhenClosed } = await import("../src/dom.js");
  const { FakeModel } = await import("./fake_dom.js");
  const output = { textContent: "", querySelector: () => null };
  const child = { style: {}, dataset: {}, querySelector: (selector) => (selector === ".jp-OutputArea-output" ? output : null) };
  const el = { closest: (selector) => (selector === ".jp-OutputArea-child" ? child : null) };
  const model = new FakeModel({});
  output.textContent = "still closing"; // a box whose other widgets close after this one
  const cleanup = hideOutputWhenClosed(model, el, 1);
  model.trigger("destroy");
  assert.equal(child.style.display, undefined);
  output.textContent = "";
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(child.style.display, "none");
  cleanup();
  assert.equal(model.handlerCount(), 0);
  // An output that still shows something (a box with other widgets open) stays.
  const busy = { style: {}, dataset: {}, querySelector: () => ({ textContent: "text", querySelector: () => null }) };
  const model2 = new FakeModel({});
  hideOutputWhenClosed(model2, { closest: () => busy }, 0, 2);
  model2.trigger("destroy");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(busy.style.display, undefined);
});

test("pageTheme reads JupyterLab's and VS Code's markers on <body>, and says nothing elsewhere", () => {
  const body = (dataset = {}, classes = []) => ({ dataset, classList: { contains: (name) => classes.includes(name) } });
  assert.equal(pageTheme(body({ jpThemeLight: "true" })), "light");
  assert.equal(pageTheme(body({ jpThemeLight: "false" })), "dark");
  assert.equal(pageTheme(body({}, ["vscode-body", "vscode-dark"])), "dark");
  assert.equal(pageTheme(body({}, ["vscode-high-contrast"])), "dark");
  assert.equal(pageTheme(body({}, ["vscode-light"])), "light");
  assert.equal(pageTheme(body({}, ["colab"])), "");
  assert.equal(pageTheme(body({ jpThemeLight: "maybe" })), "");
});

test("shownSize gives the laid-out size, and null for an element hidden behind another tab", () => {
  const element = (width, height, visible) => Object.assign(new FakeElement("div", null),
    { clientWidth: width, clientHeight: height, checkVisibility: () => visible });
  assert.deepEqual(shownSize(element(200.4, 150, true)), { width: 200, height: 150 });
  assert.equal(shownSize(element(0, 0, true)), null); // display: none above it
  assert.equal(shownSize(element(200, 150, false)), null); // content-visibility: hidden above it
  assert.equal(shownSize(element(200, 0, true)), null);
  const old = Object.assign(new FakeElement("div", null), { clientWidth: 90, clientHeight: 60 }); // no checkVisibility
  assert.deepEqual(shownSize(old), { width: 90, height: 60 });
});
