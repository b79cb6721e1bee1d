import { test } from "node:test";
import assert from "node:assert/strict";
import volumeView from "../src/widget.js";
import { ControlledDecoder, FakeModel, FakeMutationObserver, FakeResizeObserver, installFakeBrowser } from "./fake_dom.js";

// VolumeView's frame handling in a fake browser: which frames are drawn and which acknowledged.
function showView(decoder, state = {}) {
  const browser = installFakeBrowser(decoder);
  const model = new FakeModel({
    width: 64, height: 48, error: "", show_stats: false, snapshot: new DataView(new ArrayBuffer(0)),
    show_axes: false, show_box: false, show_scale: false, show_colorbar: false, units: "", overlay_box: null,
    overlay_colors: null, value_range: [0, 1], camera_position: [0, 0, 3], camera_target: [0, 0, 0],
    camera_up: [0, 1, 0], fov: 45, time_index: 0, ...state,
  });
  const cleanup = volumeView.render({ model, el: browser.el });
  const canvas = browser.el.find("pyvr-canvas")[0];
  const frame = (id, kind = "preview") => model.trigger("msg:custom",
    { type: "frame", id, mime: "image/jpeg", kind }, [new DataView(new Uint8Array([id]).buffer)]);
  const acks = () => model.sent.filter((m) => m.type === "ack").map((m) => m.id);
  return { browser, model, cleanup, canvas, frame, acks };
}

test("every frame is acknowledged: drawn, skipped because a newer one was drawn first, or undecodable", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder);
  t.after(view.browser.restore);
  view.frame(1);
  view.frame(2);
  view.frame(3);
  await decoder.resolve(1); // frame 2 first
  await decoder.resolve(0); // frame 1 is older: skipped, but acknowledged or flow control stalls
  await decoder.reject(2); // frame 3 does not decode: acknowledged too, and said
  assert.deepEqual(view.acks(), [2, 1, 3]);
  assert.deepEqual(view.canvas.getContext().drawn.map((image) => image.name), ["image1"]);
  assert.equal(view.canvas.dataset.frameId, "2");
  assert.equal(view.canvas.dataset.drawn, "1");
  const box = view.browser.el.find("pyvr-error")[0];
  assert.match(box.textContent, /A frame could not be drawn: corrupt image/);
  view.frame(4, "full");
  await decoder.resolve(3);
  assert.deepEqual(view.acks(), [2, 1, 3, 4]);
  assert.equal(view.canvas.dataset.kind, "full");
  assert.equal(box.style.display, "none"); // a drawn frame clears it
  assert.deepEqual(decoder.closed.sort(), ["image0", "image1", "image3"]); // every bitmap closed
  view.cleanup();
});

test("until a frame arrives the canvas shows the scene's background, not the page's", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder, { background: [1, 0.5, 0] });
  t.after(view.browser.restore);
  const fills = view.canvas.getContext().fills;
  assert.equal(fills.at(-1), "rgb(255,128,0)");
  view.model.update({ background: [0, 0, 1] });
  assert.equal(fills.at(-1), "rgb(0,0,255)");
  view.frame(1, "full");
  await decoder.resolve(0);
  const count = fills.length;
  view.model.update({ background: [1, 1, 1] }); // a frame is on screen: the kernel's next one brings it
  assert.equal(fills.length, count);
  view.model.update({ width: 80 }); // a resize clears the canvas: the background until the next frame
  assert.equal(fills.at(-1), "rgb(255,255,255)");
  view.cleanup();
});

test("the saved snapshot is drawn first but never over a frame, and is not acknowledged", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder, { snapshot: new DataView(new Uint8Array([9]).buffer) });
  t.after(view.browser.restore);
  view.frame(1);
  await decoder.resolve(1);
  await decoder.resolve(0); // the snapshot decodes last
  assert.deepEqual(view.canvas.getContext().drawn.map((image) => image.name), ["image1"]);
  assert.deepEqual(view.acks(), [1]);
  view.cleanup();
});

test("frames decoded after the view is gone are neither drawn nor acknowledged; listeners all go", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder);
  t.after(view.browser.restore);
  view.frame(1);
  const root = view.browser.el.find("pyvr-view")[0];
  const elements = [root, view.canvas];
  assert.ok(elements.reduce((n, e) => n + e.listenerCount, 0) > 0);
  view.cleanup();
  await decoder.resolve(0);
  assert.deepEqual(view.acks(), []);
  assert.equal(view.canvas.getContext().drawn.length, 0);
  assert.deepEqual(decoder.closed, ["image0"]);
  assert.equal(elements.reduce((n, e) => n + e.listenerCount, 0), 0);
  assert.equal(view.model.handlerCount(), 0);
});

test("a drag orbits with pointer capture and ends with an 'end' message; the wheel zooms only with focus", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder);
  t.after(view.browser.restore);
  const root = view.browser.el.find("pyvr-view")[0];
  const pointer = (type, x, y) => Object.assign(new Event(type, { cancelable: true }),
    { clientX: x, clientY: y, button: 0, shiftKey: false, pointerId: 1 });
  const wheel = () => Object.assign(new Event("wheel", { cancelable: true }), { deltaY: -100, deltaMode: 0 });
  root.dispatchEvent(wheel()); // no focus yet: the page scrolls
  view.browser.frames();
  assert.equal(view.model.sent.filter((m) => m.type === "zoom").length, 0);
  view.canvas.dispatchEvent(pointer("pointerdown", 10, 10));
  assert.equal(view.browser.document.activeElement, root);
  assert.ok(view.canvas.hasPointerCapture(1));
  view.canvas.dispatchEvent(pointer("pointermove", 15, 12));
  view.browser.frames();
  view.canvas.dispatchEvent(pointer("pointerup", 15, 12));
  root.dispatchEvent(wheel());
  view.browser.frames();
  const motions = view.model.sent.filter((m) => ["orbit", "end", "zoom"].includes(m.type)).map((m) => m.type);
  assert.deepEqual(motions, ["orbit", "end", "zoom"]);
  assert.deepEqual(view.model.sent.find((m) => m.type === "orbit"), { type: "orbit", dx: 5, dy: 2 });
  assert.ok(!view.canvas.hasPointerCapture(1));
  view.cleanup();
});

test("a frame whose buffer the widget manager dropped is acknowledged and reported once; base64 frames draw", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showView(decoder);
  t.after(view.browser.restore);
  const bare = (id) => view.model.trigger("msg:custom", { type: "frame", id, mime: "image/png", kind: "full" }, []);
  bare(1);
  bare(2);
  assert.deepEqual(view.acks(), [1, 2]); // flow control never waits for them
  assert.equal(view.model.sent.filter((m) => m.type === "buffers_missing").length, 1);
  assert.equal(view.canvas.getContext().drawn.length, 0);
  // Python now sends the bytes as base64 text in the message (Colab's CDN widget manager).
  view.model.trigger("msg:custom", { type: "frame", id: 3, mime: "image/png", kind: "full", data: "CQ==" }, []);
  await decoder.resolve(0);
  assert.deepEqual(view.acks(), [1, 2, 3]);
  assert.equal(view.canvas.dataset.frameId, "3");
  assert.equal(view.browser.el.find("pyvr-view")[0].dataset.transport, "base64");
  view.cleanup();
});

test("a browser without what the view needs gets a message and the saved picture, not an empty output", (t) => {
  const browser = installFakeBrowser(new ControlledDecoder());
  t.after(browser.restore);
  globalThis.ResizeObserver = undefined; // an old browser
  const model = new FakeModel({ width: 64, height: 48, error: "", show_stats: false,
    snapshot: new DataView(new Uint8Array([9]).buffer) });
  let cleanup;
  assert.doesNotThrow(() => { cleanup = volumeView.render({ model, el: browser.el }); });
  const [box] = browser.el.find("pyvr-failed");
  assert.match(box.textContent, /VolumeView could not start in this browser: .*ResizeObserver/);
  assert.equal(browser.el.children.length, 2); // the message and the saved picture
  assert.equal(browser.el.children[1].tagName, "IMG");
  cleanup();
});

test("the view tells Python the page's theme, and again when the user switches it; not after it is gone", (t) => {
  const decoder = new ControlledDecoder();
  const browser = installFakeBrowser(decoder);
  t.after(() => browser.restore());
  browser.document.body.dataset.jpThemeLight = "true";
  const model = new FakeModel({ width: 64, height: 48, error: "", show_stats: false, snapshot: new DataView(new ArrayBuffer(0)),
    value_range: [0, 1], camera_position: [0, 0, 3], camera_target: [0, 0, 0], camera_up: [0, 1, 0], fov: 45 });
  const cleanup = volumeView.render({ model, el: browser.el });
  const themes = () => model.sent.filter((m) => m.type === "theme").map((m) => m.theme);
  assert.deepEqual(themes(), ["light"]);
  FakeMutationObserver.notifyAll(); // an unrelated change: nothing new to say
  browser.document.body.dataset.jpThemeLight = "false";
  FakeMutationObserver.notifyAll();
  assert.deepEqual(themes(), ["light", "dark"]);
  cleanup();
  browser.document.body.dataset.jpThemeLight = "true";
  FakeMutationObserver.notifyAll();
  assert.deepEqual(themes(), ["light", "dark"]);
});

test("a corner drag asks for frames of the new size; a view hidden behind another tab asks nothing", async (t) => {
  const view = showView(new ControlledDecoder());
  t.after(view.browser.restore);
  const root = view.browser.el.children[0];
  const resizes = () => view.model.sent.filter((m) => m.type === "resize");
  const observed = async (width, height, visible = true) => {
    Object.assign(root, { clientWidth: width, clientHeight: height, checkVisibility: () => visible });
    FakeResizeObserver.notifyAll();
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the observer's 100 ms debounce
  };
  await observed(0, 0); // the tab went behind another: 0 × 0 (it was taken for a resize to 16 px)
  await observed(64, 48, false); // content-visibility: hidden
  assert.deepEqual(resizes(), []);
  await observed(64, 48); // shown again at its size: nothing to ask
  assert.deepEqual(resizes(), []);
  await observed(200, 120); // the user dragged the corner
  assert.deepEqual(resizes(), [{ type: "resize", width: 200, height: 120 }]);
  view.cleanup();
});
