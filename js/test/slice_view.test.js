import { test } from "node:test";
import assert from "node:assert/strict";
import { labelAt, letterSpots, onSlice, pixelToWorld, readoutText, stepIndex, valueAt, voxelOf, worldToPixel } from "../src/slice_view.js";

// An axial slice of a (D=5, H=4, W=3) volume with spacing (1, 2, 3) at z index 2, as
// SliceView._geometry describes it: 3 × 7 pixels of 1 world unit, +x right, +y up.
const axial = {
  width: 3, height: 7, centre: [1, 3, 6], right: [1, 0, 0], up: [0, 1, 0], pitch: 1,
  spacing: [1, 2, 3], origin: [0, 0, 0],
};

test("pixel centres map to world points: row 0 is the top (+y), column 0 the left (x min)", () => {
  assert.deepEqual(pixelToWorld(axial, 0, 0), [0, 6, 6]);
  assert.deepEqual(pixelToWorld(axial, 6, 2), [2, 0, 6]);
  assert.deepEqual(pixelToWorld(axial, 3, 1), [1, 3, 6]);
});

test("worldToPixel inverts pixelToWorld", () => {
  for (const [row, col] of [[0, 0], [2.5, 1.25], [6, 2]]) {
    const [r, c] = worldToPixel(axial, pixelToWorld(axial, row, col));
    assert.ok(Math.abs(r - row) < 1e-12 && Math.abs(c - col) < 1e-12);
  }
});

test("voxelOf rounds to the nearest voxel with the spacing", () => {
  assert.deepEqual(voxelOf(axial, [1.4, 2.9, 6]), [1, 1, 2]);
});

test("voxelOf counts the voxels of the store's level 0 when the slices read a coarser level", () => {
  const coarse = { ...axial, spacing: [4, 4, 4], origin: [1.5, 1.5, 1.5],
    voxels: { spacing: [2, 2, 2], origin: [0.5, 0.5, 0.5], level: 1 } };
  assert.deepEqual(voxelOf(coarse, [8.5, 1.5, 6.5]), [4, 1, 3]); // level 1 would say [2, 0, 1]
});

test("labelAt names the pixel's label, and nothing outside the volume or without labels", () => {
  const rows = new DataView(new Int32Array([1, -1, 0, 7]).buffer);
  const texts = ["0 · background", "3 · tumour"];
  assert.equal(labelAt(rows, texts, 0), "3 · tumour");
  assert.equal(labelAt(rows, texts, 4), "");
  assert.equal(labelAt(rows, texts, 8), "0 · background");
  assert.equal(labelAt(rows, texts, 12), "", "a row the table lacks");
  assert.equal(labelAt(new DataView(new ArrayBuffer(0)), [], 0), "");
});

test("valueAt reads the values in the type Python sent them, little-endian", () => {
  const ints = new DataView(new Int16Array([-1000, 40, 1272]).buffer);
  assert.equal(valueAt(ints, "i2", 0), -1000);
  assert.equal(valueAt(ints, "i2", 2), 1272);
  assert.ok(Number.isNaN(valueAt(ints, "i2", 3)), "past the end");
  assert.equal(valueAt(new DataView(new Uint16Array([65535]).buffer), "u2", 0), 65535);
  assert.equal(valueAt(new DataView(new Uint8Array([7, 250]).buffer), "u1", 1), 250);
  assert.equal(valueAt(new DataView(new Int8Array([-5]).buffer), "i1", 0), -5);
  const floats = new DataView(new Float32Array([0.5, NaN]).buffer);
  assert.equal(valueAt(floats, "f4", 0), 0.5);
  assert.equal(valueAt(floats, undefined, 0), 0.5, "float32 when the geometry names no type");
  assert.ok(Number.isNaN(valueAt(floats, "f4", 1)), "outside the volume");
  assert.ok(Number.isNaN(valueAt(null, "f4", 0)));
});

test("onSlice moves a point along the slice's axis only, in world units", () => {
  const g = { dim: 2, origin: [10, 20, 30], spacing: [1, 2, 2.5] };
  const point = [12.5, 21, 31];
  assert.deepEqual(onSlice(point, g, 4), [12.5, 21, 40]);
  assert.deepEqual(point, [12.5, 21, 31]);  // the pending point itself is left as it was
  assert.deepEqual(onSlice(point, { ...g, dim: 0 }, 3), [13, 21, 31]);
});

test("stepIndex keeps the index inside the volume", () => {
  assert.equal(stepIndex(3, 1, 5), 4);
  assert.equal(stepIndex(4, 10, 5), 4);
  assert.equal(stepIndex(0, -1, 5), 0);
});

// ---- the view, in a fake browser ---------------------------------------------------------------
import sliceView from "../src/slice_view.js";
import { ControlledDecoder, FakeModel, installFakeBrowser } from "./fake_dom.js";

function geometryAt(index) {
  return { ...axial, index, n_slices: 5, position: index * 3, dim: 2 };
}

function showSlices(decoder) {
  const browser = installFakeBrowser(decoder);
  const model = new FakeModel({
    axis: "z", index: 0, crosshair: [1, 3, 6], show_crosshair: true, display_size: 7, units: "", error: "",
    image: new DataView(new ArrayBuffer(0)), _values: null, _geometry: {},
  });
  const cleanup = sliceView.render({ model, el: browser.el });
  const find = (name) => browser.el.find(name)[0];
  /** Python sends a slice: geometry and image in one message. */
  const send = (index) => model.update({
    index, _geometry: geometryAt(index), image: new DataView(new Uint8Array([index]).buffer),
  });
  return { browser, model, cleanup, send, canvas: find("pyvr-slice-canvas"), title: find("pyvr-slice-title-text"), find };
}

test("regression (issue 27, item 9): a fast scroll ends on the last slice when an older image decodes last", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  view.send(1); // a large image...
  view.send(2); // ...then a small one, decoded first
  await decoder.resolve(1);
  view.browser.frames();
  await decoder.resolve(0); // the older one finishes last
  view.browser.frames();
  const drawn = view.canvas.getContext().drawn.map((image) => image.name);
  assert.deepEqual(drawn, ["image1"]); // never image0 (slice 1) over slice 2
  assert.equal(view.canvas.dataset.index, "2");
  assert.match(view.title.textContent, /slice 2 \(0–4\)/);
  assert.deepEqual(decoder.closed, ["image0"]); // the skipped image is released
  view.cleanup();
  assert.deepEqual(decoder.closed, ["image0", "image1"]);
});

test("the slice view: the title keeps the width of the widest one its axis can show", async (t) => {
  // Helper 65: the grid's column followed the title's text, so the panel beside it moved as the slice stepped.
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  view.model.update({ index: 1, _geometry: { ...geometryAt(1), position: -7, n_slices: 12 },
    image: new DataView(new Uint8Array([1]).buffer) });
  await decoder.resolve(0);
  const [text, sizer] = view.find("pyvr-slice-title").children;
  assert.match(text.textContent, /z = -7 · slice 1 \(0–11\)/);
  // Slices from z = -10 (slice 0) to 23 (slice 11) in steps of 3: "-10" is the longest position.
  assert.match(sizer.textContent, /z = -10 · slice 11 \(0–11\)/);
  assert.equal(sizer.style.cssText.includes("visibility:hidden"), true);
  assert.equal(sizer.attributes["aria-hidden"], "true");
  view.cleanup();
});

test("the slice view: a decode error shows in the error box and clears with the next image", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  const box = view.find("pyvr-slice-error");
  view.send(3);
  await decoder.reject(0);
  assert.equal(box.style.display, "block");
  assert.match(box.textContent, /could not be drawn: corrupt image/);
  view.model.update({ error: "ValueError: x" });
  assert.match(box.textContent, /^Slice failed: ValueError: x\n/);
  view.send(4);
  await decoder.resolve(1);
  view.model.update({ error: "" });
  assert.equal(box.style.display, "none");
  view.cleanup();
});

test("the slice view: the cleanup removes every listener it added", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  const elements = [view.browser.el, ...view.browser.el.find("pyvr-slice"), view.canvas, view.find("pyvr-slice-slider")];
  assert.ok(elements.reduce((n, e) => n + e.listenerCount, 0) > 0 && view.model.handlerCount() > 0);
  view.cleanup();
  assert.equal(elements.reduce((n, e) => n + e.listenerCount, 0), 0);
  assert.equal(view.model.handlerCount(), 0);
});

test("the slice view: the wheel steps the slice only while the focus is in it (its slider's too), as its border says", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  view.send(1);
  await decoder.resolve(0);
  const root = view.browser.el.find("pyvr-slice")[0];
  const wheel = () => Object.assign(new Event("wheel", { cancelable: true }), { deltaY: -1 });
  root.dispatchEvent(wheel());
  assert.equal(view.model.get("index"), 1);
  root.focus();
  root.dispatchEvent(wheel());
  assert.equal(view.model.get("index"), 2);
  view.find("pyvr-slice-slider").focus(); // a click or the keys on the slider: the focus is still inside
  root.dispatchEvent(Object.assign(new Event("focusin"), { relatedTarget: root }));
  assert.equal(root.style.borderColor, "#4a90d9");
  root.dispatchEvent(wheel());
  assert.equal(view.model.get("index"), 3);
  // From the slider back to the picture the border stays; leaving the view clears it.
  root.dispatchEvent(Object.assign(new Event("focusout"), { relatedTarget: root }));
  assert.equal(root.style.borderColor, "#4a90d9");
  root.dispatchEvent(Object.assign(new Event("focusout"), { relatedTarget: null }));
  assert.equal(root.style.borderColor, "transparent");
  view.cleanup();
});

test("the slice view: the readout under a still pointer follows a step to the next slice", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  const slice = (index) => view.model.update({ // Python's message: geometry and image (int16 values on request)
    index, _geometry: { ...geometryAt(index), serial: index },
    image: new DataView(new Uint8Array([index]).buffer),
  });
  const answer = () => { // Python answers a request with that slice's values
    const index = view.model.get("_readout_for");
    if (index) {
      view.model.update({ _values: new DataView(new Int16Array(21).fill(100 * index).buffer), _values_dtype: "i2",
        _values_of: index });
    }
  };
  slice(1);
  await decoder.resolve(0);
  const readout = view.find("pyvr-slice-readout");
  view.canvas.dispatchEvent(Object.assign(new Event("pointermove"), { clientX: 1.5, clientY: 0.5 }));
  assert.equal(view.model.get("_readout_for"), 1);
  answer();
  assert.equal(readout.dataset.value, "100");
  slice(2); // an arrow key's step: the pointer stays where it was
  assert.equal(view.model.get("_readout_for"), 1, "nothing asked before the new slice is drawn");
  await decoder.resolve(1);
  assert.equal(view.model.get("_readout_for"), 2);
  assert.equal(readout.textContent, "…"); // values of another slice are never read
  answer();
  assert.equal(readout.dataset.value, "200");
  assert.ok(readout.title.startsWith(`${readout.textContent}\n`), "the tooltip holds what a narrow slice cuts");
  view.canvas.dispatchEvent(new Event("pointerleave"));
  assert.equal(view.model.get("_readout_for"), 0);
  slice(3);
  await decoder.resolve(2);
  assert.equal(readout.textContent, "");
  assert.equal(view.model.get("_readout_for"), 0);
  view.cleanup();
});

test("the slice view: a step that leaves the cross-hair on its pixel draws the new image only", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  const drawn = () => view.canvas.getContext().drawn.map((image) => image.name);
  view.send(1);
  await decoder.resolve(0);
  view.browser.frames();
  assert.deepEqual(drawn(), ["image0"]);
  // A key step: the cross-hair follows the slice out of the plane, in the message with the image.
  view.model.update({ index: 2, crosshair: [1, 3, 9], _geometry: geometryAt(2), image: new DataView(new Uint8Array([2]).buffer) });
  view.browser.frames();
  assert.deepEqual(drawn(), ["image0"], "the old image is not drawn again while the new one decodes");
  await decoder.resolve(1);
  view.browser.frames();
  assert.deepEqual(drawn(), ["image0", "image1"]);
  view.model.update({ crosshair: [4, 3, 9] }); // dragged across the image: drawn again under it
  view.browser.frames();
  assert.deepEqual(drawn(), ["image0", "image1", "image1"]);
  view.model.update({ show_crosshair: false });
  view.browser.frames();
  assert.equal(drawn().length, 4);
  view.cleanup();
});

test("the slice view: a step sends the cross-hair on the new slice with the index, so that a merged message agrees", async (t) => {
  // Busy kernel: ipywidgets buffers a click's cross-hair and merges it with the next key's step
  // into one message; Python's cross-hair observer then took the slice back (a CI failure).
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  view.send(1);
  view.model.update({ crosshair: [1, 3, 3] }); // on slice 1 (z = 1 · 3)
  await decoder.resolve(0);
  const root = view.browser.el.find("pyvr-slice")[0];
  const key = (name) => root.dispatchEvent(Object.assign(new Event("keydown", { cancelable: true }), { key: name }));
  key("ArrowUp");
  assert.equal(view.model.get("index"), 2);
  assert.deepEqual(view.model.get("crosshair"), [1, 3, 6]);
  // A click, then a key before the click's frame: the click's point, on the stepped slice.
  view.canvas.dispatchEvent(Object.assign(new Event("pointerdown"), { clientX: 0.5, clientY: 0.5, button: 0, pointerId: 1 }));
  view.canvas.dispatchEvent(Object.assign(new Event("pointerup"), { clientX: 0.5, clientY: 0.5, button: 0, pointerId: 1 }));
  key("ArrowDown");
  assert.equal(view.model.get("index"), 1);
  const [x, y, z] = view.model.get("crosshair");
  assert.deepEqual([x, y, z], [...pixelToWorld(geometryAt(1), 0, 0).slice(0, 2), 3]);
  view.browser.frames(); // the click's frame comes: nothing left to send
  assert.deepEqual(view.model.get("crosshair"), [x, y, z]);
  assert.equal(view.model.get("index"), 1);
  view.cleanup();
});

test("the slice view: a geometry for the image still decoding goes with it, and the readout asks for it", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  const image = new DataView(new Uint8Array([1]).buffer);
  view.model.update({ index: 1, _geometry: { ...geometryAt(1), serial: 1 }, image });
  await decoder.resolve(0);
  const newer = new DataView(new Uint8Array([2]).buffer);
  view.model.update({ index: 2, _geometry: { ...geometryAt(2), serial: 2 }, image: newer });
  view.model.update({ _geometry: { ...geometryAt(2), serial: 3 } }); // the same picture drawn again
  view.browser.frames();
  assert.equal(view.canvas.dataset.index, "1", "the old image is not relabelled with the new geometry");
  await decoder.resolve(1);
  view.browser.frames();
  assert.equal(view.canvas.dataset.index, "2");
  view.canvas.dispatchEvent(Object.assign(new Event("pointermove"), { clientX: 1.5, clientY: 0.5 }));
  assert.equal(view.model.get("_readout_for"), 3, "the newest serial, whose image is on the canvas");
  view.cleanup();
});

test("the slice view: a readout request nobody answers says the kernel is needed", async (t) => {
  const decoder = new ControlledDecoder();
  const view = showSlices(decoder);
  t.after(view.browser.restore);
  view.model.update({ index: 1, _geometry: { ...geometryAt(1), serial: 1 }, image: new DataView(new Uint8Array([1]).buffer) });
  await decoder.resolve(0);
  const readout = view.find("pyvr-slice-readout");
  const realNow = performance.now.bind(performance);
  let offset = 0;
  t.mock.method(performance, "now", () => realNow() + offset);
  view.canvas.dispatchEvent(Object.assign(new Event("pointermove"), { clientX: 1.5, clientY: 0.5 }));
  assert.equal(readout.textContent, "…");
  assert.equal(readout.dataset.value, "");
  offset = 2000; // no answer (a saved notebook, a dead kernel)
  view.canvas.dispatchEvent(Object.assign(new Event("pointermove"), { clientX: 1.5, clientY: 0.5 }));
  assert.match(readout.textContent, /needs the running kernel/);
  view.cleanup();
});

test("coordinates get the decimals their voxels and pixels need, one count per slice", async () => {
  const { coordinateDecimals } = await import("../src/slice_view.js");
  assert.equal(coordinateDecimals({ pitch: 1, spacing: [1, 1, 1], origin: [-98, -134, -72] }), 0);
  assert.equal(coordinateDecimals({ pitch: 0.8, spacing: [0.8, 0.8, 1], origin: [0, 0, 0] }), 1);
  // a level of a pyramid: voxels of 2 µm whose first centre sits half a finer voxel in
  assert.equal(coordinateDecimals({ pitch: 2, spacing: [2, 2, 4], origin: [0.25, 0.25, 0.5] }), 2);
  assert.equal(coordinateDecimals({ pitch: 1 / 3, spacing: [1, 1, 1], origin: [0, 0, 0] }), 3); // at most 3
  assert.equal(coordinateDecimals({ pitch: 0.5 }), 1); // older geometry without spacing and origin
  // microscopy in millimetres: neighbouring slices 0.0004 apart print apart
  const fine = { pitch: 0.0004, spacing: [0.0004, 0.0004, 0.0004], origin: [0, 0, 0] };
  const positions = [4, 5, 6, 7].map((i) => (i * 0.0004).toFixed(coordinateDecimals(fine)));
  assert.equal(new Set(positions).size, 4);
  assert.equal(coordinateDecimals({ pitch: 1, spacing: [1, 1, 1], origin: [1e-9, 0, 0] }), 0); // float noise: none
});

test("letterSpots puts the letters at the edges' middles, and beside a cross-hair line that passes there", () => {
  assert.deepEqual(letterSpots(200, 100, 3), {
    left: [3, 50, "left", "middle"], right: [197, 50, "right", "middle"],
    top: [100, 3, "center", "top"], bottom: [100, 97, "center", "bottom"],
  });
  const centred = letterSpots(200, 100, 3, [100, 50], 10);
  assert.deepEqual(centred.top, [97, 3, "right", "top"], "left of the vertical line");
  assert.deepEqual(centred.left, [3, 47, "left", "bottom"], "above the horizontal line");
  const offCentre = letterSpots(200, 100, 3, [95, 56], 10);
  assert.deepEqual(offCentre.bottom, [98, 97, "left", "bottom"], "right of a line left of the middle");
  assert.deepEqual(offCentre.right, [197, 53, "right", "bottom"], "above a line under the middle");
  assert.deepEqual(letterSpots(200, 100, 3, [30, 70], 10), letterSpots(200, 100, 3), "lines far from every letter");
});

test("letterSpots moves a letter inwards past a cross-hair line that runs along its edge", () => {
  const nearLeft = letterSpots(200, 100, 3, [6, 70], 10);
  assert.deepEqual(nearLeft.left, [9, 50, "left", "middle"], "right of a vertical line at x = 6");
  assert.deepEqual(nearLeft.top, [100, 3, "center", "top"], "the top letter is not on that line");
  const nearTop = letterSpots(200, 100, 3, [150, 5], 10);
  assert.deepEqual(nearTop.top, [100, 8, "center", "top"], "below a horizontal line at y = 5");
  assert.deepEqual(letterSpots(200, 100, 3, [195, 96], 10).right, [192, 50, "right", "middle"]);
  assert.deepEqual(letterSpots(200, 100, 3, [195, 96], 10).bottom, [100, 93, "center", "bottom"]);
});

test("readoutText gives the voxel, its world point in the view's units, the value and the label", () => {
  assert.equal(readoutText([76, 179, 105], [76.25, 179.25, 210.5], 2, "µm", 200, ""),
    "value 200\nvoxel xyz [76, 179, 105]\nxyz (76.25, 179.25, 210.50) µm");
  assert.equal(readoutText([1, 2, 3], [1, 2, 3], 0, "", 0.5, "3 · tumour"),
    "value 0.5000 · label 3 · tumour\nvoxel xyz [1, 2, 3]\nxyz (1, 2, 3)");
});
