// SliceView's browser side: draws the slice image rendered in the kernel, a cross-hair, the
// value under the pointer; the slider, arrow keys and wheel step `index`; a click moves `crosshair`.
// Python owns the slice geometry (`_geometry`); this file only maps pixels to world points with it.
import {
  NewestImage, combineCleanups, errorBox, errorMessage, focusedWheel, guardedRender, hideOutputWhenClosed, listen, listenModel,
  pointerDrag,
} from "./dom.js";

/**
 * @typedef Geometry  (SliceView._geometry, world units, x/y/z order)
 * @property {number} width   image width in pixels
 * @property {number} height  image height in pixels
 * @property {number[]} centre  world point at the image centre
 * @property {number[]} right   unit vector along columns
 * @property {number[]} up      unit vector towards row 0
 * @property {number} pitch    world units per pixel
 * @property {number} n_slices slices along the axis
 * @property {number} dim      0, 1, 2: the axis as x, y, z
 * @property {number} position world coordinate of the slice
 * @property {number[]} spacing
 * @property {number[]} origin
 * @property {{left: string, right: string, top: string, bottom: string}} letters  what lies at each edge:
 *   anatomical letters (L/R, A/P, S/I) when the orientation is known, else the world axes ("+x")
 * @property {string} convention  "neurological", "radiological", or "world axes"
 * @property {{spacing: number[], origin: number[], level: number}|null} voxels  the grid voxel indices
 *   count when it is not the slices' (a store's slices read from its level `level`: indices are level 0's)
 * @property {number} serial  counts the slices Python rendered (`_values_of` names the one the values are of)
 *
 * @typedef Model  (mirrors SliceView's synced traits)
 * @property {string} axis
 * @property {number} index
 * @property {number[]} crosshair
 * @property {boolean} show_crosshair
 * @property {number} display_size  longer side of the image on screen, CSS pixels
 * @property {DataView} image  PNG of the slice
 * @property {DataView} _values  scalars, row-major, of type `_values_dtype` (float32: NaN outside the volume),
 *   of the slice whose `_geometry.serial` is `_values_of`: sent when asked (`_readout_for`)
 * @property {string} _values_dtype  "f4", "i2", "u2", "i1" or "u1"
 * @property {number} _values_of
 * @property {number} _readout_for  set here: the serial of the drawn slice under the pointer (0: none)
 * @property {DataView} _label_rows  int32 label-table row per pixel, −1 outside (empty: no labels)
 * @property {string[]} _label_texts  per table row: "ID · name"
 * @property {Geometry} _geometry
 * @property {string} units
 * @property {string} error
 */

const AXIS_NAMES = { z: "axial", y: "coronal", x: "sagittal" };
/** A readout request unanswered this long (ms) means no kernel is answering. */
const UNANSWERED_MS = 1500;
const STEP_KEYS = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };

/** Bytes and DataView getter of each type `_values` may hold (`widget/slices/readout.py`). */
const VALUE_TYPES = { f4: [4, "getFloat32"], i2: [2, "getInt16"], u2: [2, "getUint16"], i1: [1, "getInt8"],
  u1: [1, "getUint8"] };

/** The scalar at flat pixel `index` of `values` stored as `dtype` (default float32); NaN past the end. */
export function valueAt(values, dtype, index) {
  const [size, getter] = VALUE_TYPES[dtype] || VALUE_TYPES.f4;
  const offset = size * index;
  return values && offset + size <= values.byteLength ? values[getter](offset, true) : NaN;
}

/** "ID · name" of the label at byte `offset` of the int32 rows (as of the float32 values), or "". */
export function labelAt(rows, texts, offset) {
  if (!rows || offset + 4 > rows.byteLength || !texts) return "";
  const row = rows.getInt32(offset, true);
  return row >= 0 && row < texts.length ? texts[row] : "";
}

/** World point of the (fractional) pixel (row, col): pixel centres sit at integer + 0.5 on screen. */
export function pixelToWorld(g, row, col) {
  const a = (col - (g.width - 1) / 2) * g.pitch;
  const b = ((g.height - 1) / 2 - row) * g.pitch;
  return [0, 1, 2].map((i) => g.centre[i] + a * g.right[i] + b * g.up[i]);
}

/** (row, col) of a world point projected onto the slice. */
export function worldToPixel(g, point) {
  let a = 0;
  let b = 0;
  for (let i = 0; i < 3; i++) {
    a += (point[i] - g.centre[i]) * g.right[i];
    b += (point[i] - g.centre[i]) * g.up[i];
  }
  return [(g.height - 1) / 2 - b / g.pitch, (g.width - 1) / 2 + a / g.pitch];
}

/** Voxel index (i, j, k) nearest to a world point, in the grid of `g.voxels` when it has one. */
export function voxelOf(g, point) {
  const grid = g.voxels || g;
  return [0, 1, 2].map((i) => Math.round((point[i] - grid.origin[i]) / grid.spacing[i]));
}

/** Index after a step, kept in [0, n - 1]. */
export function stepIndex(index, step, n) {
  return Math.min(n - 1, Math.max(0, index + step));
}

/** The world point `point` (x, y, z) moved onto slice `index` of the geometry `g` along its axis. */
export function onSlice(point, g, index) {
  const moved = point.slice();
  moved[g.dim] = g.origin[g.dim] + index * g.spacing[g.dim];
  return moved;
}

/**
 * Where each edge's letter goes on a canvas of (width, height): [x, y, textAlign, textBaseline].
 * A letter sits at its edge's middle, ``pad`` in from the edge. A cross-hair line (``crosshair``:
 * its [x, y] in canvas pixels, or null) that would cross it, within ``clearance`` (about a
 * letter's size) of its place, moves it beside the line: along its edge for a line across the
 * edge's middle, inwards past a line running along its edge. So the dashed lines never strike
 * a letter through.
 */
export function letterSpots(width, height, pad, crosshair = null, clearance = 0) {
  const near = (a, b) => crosshair !== null && Math.abs(a - b) < clearance;
  const [lineX, lineY] = crosshair || [NaN, NaN];
  // Along the edge: beside a line through the edge's middle, on the side with more room.
  const [x, alignX] = near(lineX, width / 2)
    ? (lineX < width / 2 ? [lineX + pad, "left"] : [lineX - pad, "right"]) : [width / 2, "center"];
  const [y, baselineY] = near(lineY, height / 2)
    ? (lineY < height / 2 ? [lineY + pad, "top"] : [lineY - pad, "bottom"]) : [height / 2, "middle"];
  // Inwards: past a line that runs along the letter's own edge.
  const half = clearance / 2;
  return {
    left: near(lineX, pad + half) ? [lineX + pad, y, "left", baselineY] : [pad, y, "left", baselineY],
    right: near(lineX, width - pad - half) ? [lineX - pad, y, "right", baselineY] : [width - pad, y, "right", baselineY],
    top: near(lineY, pad + half) ? [x, lineY + pad, alignX, "top"] : [x, pad, alignX, "top"],
    bottom: near(lineY, height - pad - half) ? [x, lineY - pad, alignX, "bottom"] : [x, height - pad, alignX, "bottom"],
  };
}

const format = (x) => (Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toFixed(0) : x.toPrecision(4));

/** The readout's tooltip: what its numbers are. */
export const READOUT_HELP = "value: the voxel's value (and its label, when a label map is shown); voxel xyz [i, j, k]: its "
  + "indices along x, y, z (a (D, H, W) array reads it as volume[k, j, i]); xyz (…): the point under the pointer in "
  + "world coordinates";

/**
 * The pointer's readout, three lines: the value there and the label's text, the voxel's
 * indices, its world point (with the view's ``units``, e.g. "mm"), e.g.
 * ``value 200\nvoxel xyz [76, 179, 105]\nxyz (76.25, 179.25, 210.50) µm`` or
 * ``value 216 · label 2 · white matter\n…`` (words, not ``= 216``: cut by a narrow slice, a bare
 * number read like a fragment). One line cut the world point off any slice under ~350 px (a
 * walk-through never saw it); a line each fits a 190-px slice. The words say which numbers are
 * indices and which a point, both in x, y, z order, as the indices' line says too (helper 67 read them
 * as an array's (z, y, x) index; ``READOUT_HELP``).
 */
export function readoutText(voxel, point, decimals, units, value, label) {
  const xyz = `xyz (${point.map((x) => x.toFixed(decimals)).join(", ")})${units ? ` ${units}` : ""}`;
  return [`value ${format(value)}${label ? ` · label ${label}` : ""}`, `voxel xyz [${voxel.join(", ")}]`, xyz].join("\n");
}

/**
 * How many decimals world coordinates of ``geometry`` need: enough to write its voxels' centres
 * and its pixels' steps exactly (spacing 0.25 → 2, 0.5 → 1, whole millimetres → 0), at most 3 (or what
 * steps under 0.001 need to tell neighbours apart);
 * one count for a slice, so its coordinates read alike (128.50, 44.50, never 128.5 beside 44.50).
 */
export function coordinateDecimals(geometry) {
  const strides = [geometry.pitch, ...(geometry.spacing || [])].filter((x) => Number.isFinite(x) && x !== 0);
  // Enough for neighbouring voxels and pixels to differ (microscopy in mm: 0.0004 → 4); strides only,
  // since an origin may be anything (its float noise, 1e-9, is within the tolerance below anyway).
  const cap = Math.min(12, Math.max(3, ...strides.map((x) => Math.ceil(-Math.log10(Math.abs(x))) + 1)));
  let decimals = 0;
  for (const step of [...strides, ...(geometry.origin || [])]) {
    if (!Number.isFinite(step)) continue;
    let d = 0;
    while (d < cap && Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-6 * Math.max(1, Math.abs(step * 10 ** d))) d++;
    decimals = Math.max(decimals, d);
  }
  return decimals;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "pyvr-slice";
  root.tabIndex = 0; // focusable: the wheel and keys step slices only while the view has focus
  root.dataset.lmSuppressShortcuts = "true"; // or Notebook 7's command mode takes the arrow keys first
  root.style.cssText = "display:inline-flex;flex-direction:column;gap:3px;outline:none;font:12px sans-serif;" +
    "padding:4px;border:1px solid transparent;border-radius:4px;";
  // The title's text over an invisible copy of the widest title this axis can show, in one grid
  // cell: the title, so the slice's column and the panel beside the grid, keeps its width as the
  // slice steps (helper 65 saw the editor move by up to 10 px between "x = 0" and "x = -98").
  const title = document.createElement("div");
  title.className = "pyvr-slice-title";
  title.style.cssText = "display:grid;white-space:nowrap;font-variant-numeric:tabular-nums;";
  const titleText = document.createElement("span");
  titleText.className = "pyvr-slice-title-text";
  titleText.style.cssText = "grid-area:1/1;";
  const titleSizer = document.createElement("span");
  titleSizer.style.cssText = "grid-area:1/1;visibility:hidden;";
  titleSizer.setAttribute("aria-hidden", "true");
  title.append(titleText, titleSizer);
  const canvas = document.createElement("canvas");
  canvas.className = "pyvr-slice-canvas";
  canvas.style.cssText = "display:block;cursor:crosshair;touch-action:none;background:#000;";
  const slider = document.createElement("input");
  slider.type = "range";
  slider.className = "pyvr-slice-slider";
  slider.min = "0";
  slider.step = "1";
  // On the slider too: Notebook 7 matches its cell-navigation shortcuts against the focused
  // element itself before its ancestors, so the root's marker alone left it the arrow keys.
  slider.dataset.lmSuppressShortcuts = "true";
  const readout = document.createElement("div");
  readout.className = "pyvr-slice-readout";
  // width 0, min-width 100%: as wide as the slice, never wider (a long readout widened its
  // column and moved the slices beside it while the pointer was over one).
  readout.style.cssText = "font:11px/1.3 monospace;height:3.9em;white-space:pre;overflow:hidden;"
    + "text-overflow:ellipsis;width:0;min-width:100%;"; // three lines, always: the slices never move
  readout.title = READOUT_HELP;
  const errors = errorBox(model, {
    prefix: "Slice failed: ", className: "pyvr-slice-error",
    style: "color:#fff;background:rgba(160,0,0,.85);padding:2px 4px;white-space:pre-wrap;",
  });
  root.append(title, canvas, slider, readout, errors.element);
  el.appendChild(root);
  const context = canvas.getContext("2d");

  let drawn = 0;
  let disposed = false;
  let pending = null; // crosshair point waiting for the next animation frame
  let hovered = null; // the pointer over the canvas ({clientX, clientY}), or null
  const redraw = () => requestAnimationFrame(draw);

  // Images decode concurrently and a small one finishes first: only the newest is drawn, with
  // the geometry that came with it (the title and cross-hair follow the image on the canvas).
  const images = new NewestImage({
    keep: true,
    draw() {
      errors.report("");
      updateTitle();
      redraw();
      if (hovered) showValue(hovered); // a key or the slider stepped under a still pointer: read the new slice
    },
    onError(err) {
      canvas.dataset.decodeErrors = String(Number(canvas.dataset.decodeErrors || 0) + 1);
      errors.report(`The slice image could not be drawn: ${errorMessage(err)}`);
    },
  });
  /** The newest geometry from Python (it goes with `_values`): the pointer's readout uses it. */
  const geometry = () => model.get("_geometry") || {};
  /** The geometry of the image on the canvas. */
  const shownGeometry = () => (images.current ? images.current.meta.geometry : {});
  const scale = (g = geometry()) => (g.width ? model.get("display_size") / Math.max(g.width, g.height) : 1);

  function updateTitle() {
    const g = shownGeometry();
    if (!g.width) return;
    const axis = model.get("axis");
    root.dataset.axis = axis;
    const units = model.get("units") ? ` ${model.get("units")}` : "";
    const decimals = coordinateDecimals(g);
    const text = (position, index) => `${AXIS_NAMES[axis] || axis} · ${axis} = ${position}${units} · ` +
      `slice ${index} (0–${g.n_slices - 1})` + (g.voxels ? ` of level ${g.voxels.level}` : "") +
      (g.convention ? ` · ${g.convention}` : "");
    titleText.textContent = text(g.position.toFixed(decimals), g.index);
    const first = g.position - g.index * g.spacing[g.dim];
    const ends = [first, first + (g.n_slices - 1) * g.spacing[g.dim]].map((p) => p.toFixed(decimals));
    titleSizer.textContent = text(ends[0].length >= ends[1].length ? ends[0] : ends[1], g.n_slices - 1);
    title.title = g.convention === "world axes"
      ? "orientation unknown: world axes as labelled (axial: +x right, +y up, so row 0 of volume[k] is at the bottom)"
      : `${g.convention} convention: the patient's right on the ${g.convention === "radiological" ? "left" : "right"}`;
    slider.max = String(g.n_slices - 1);
    slider.value = String(model.get("index"));
  }

  /** Where the cross-hair falls on the image of geometry `g` ("" when hidden). */
  const crosshairPixel = (g) => (model.get("show_crosshair") ? worldToPixel(g, model.get("crosshair")).join(",") : "");
  let drawnCrosshair = ""; // crosshairPixel at the last draw
  // A slice step moves the cross-hair out of the plane only: the image it brings redraws, and
  // redrawing the old one first (the cross-hair and image come in one message) is wasted work.
  function crosshairChanged() {
    const g = shownGeometry();
    if (g.width && crosshairPixel(g) !== drawnCrosshair) redraw();
  }

  function draw() {
    const g = shownGeometry();
    if (disposed || !images.current || !g.width) return;
    const s = scale(g);
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(g.width * s);
    const height = Math.round(g.height * s);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    slider.style.width = `${width}px`;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.imageSmoothingEnabled = false; // voxels stay crisp
    context.drawImage(images.current.image, 0, 0, canvas.width, canvas.height);
    drawnCrosshair = crosshairPixel(g);
    let crosshairAt = null; // [x, y] on the canvas, where the letters must not sit
    if (model.get("show_crosshair")) {
      const [row, col] = worldToPixel(g, model.get("crosshair"));
      const x = (col + 0.5) * s * ratio;
      const y = (row + 0.5) * s * ratio;
      crosshairAt = [x, y];
      context.strokeStyle = "rgba(255, 220, 0, 0.85)";
      context.lineWidth = ratio;
      context.setLineDash([4 * ratio, 3 * ratio]);
      context.beginPath();
      context.moveTo(x, 0);
      context.lineTo(x, canvas.height);
      context.moveTo(0, y);
      context.lineTo(canvas.width, y);
      context.stroke();
      context.setLineDash([]);
    }
    drawLetters(g, ratio, crosshairAt);
    drawn += 1;
    canvas.dataset.drawn = String(drawn);
    canvas.dataset.index = String(g.index);
  }

  /** The orientation letters (or world axes) at the image's edges, outlined to read on any image. */
  function drawLetters(g, ratio, crosshairAt) {
    const letters = g.letters || {};
    context.font = `bold ${11 * ratio}px sans-serif`;
    context.lineWidth = 3 * ratio;
    context.strokeStyle = "rgba(0, 0, 0, 0.75)";
    context.fillStyle = "rgba(255, 235, 120, 0.95)";
    const shown = [];
    const spots = letterSpots(canvas.width, canvas.height, 3 * ratio, crosshairAt, 10 * ratio);
    for (const [edge, [x, y, align, baseline]] of Object.entries(spots)) {
      if (!letters[edge]) continue;
      context.textAlign = align;
      context.textBaseline = baseline;
      context.strokeText(letters[edge], x, y);
      context.fillText(letters[edge], x, y);
      shown.push(`${edge}:${letters[edge]}`);
    }
    canvas.dataset.letters = shown.join(" ");
  }

  let loaded = null; // the image bytes last pushed
  let loadedMeta = null; // ... and what was pushed with them
  function loadImage() {
    const image = model.get("image");
    if (!image || !image.byteLength) return;
    loaded = image;
    // Python sets `_geometry` and `image` in one message: this geometry is the image's.
    loadedMeta = { geometry: geometry() };
    images.push({ bytes: image, type: "image/png" }, loadedMeta);
  }

  // A new geometry with the very same picture sends no image (traitlets skips equal bytes): a
  // symmetric scan's slice seen by the other convention, or the same slice drawn again. It belongs
  // to the image pushed last, drawn or still decoding; its title, letters and readout follow.
  function geometryChanged() {
    if (model.get("image") !== loaded || !loadedMeta) return; // loadImage brings the new pair
    loadedMeta.geometry = geometry();
    if (images.current && images.current.meta === loadedMeta) {
      updateTitle();
      redraw();
    }
    if (hovered) showValue(hovered);
  }

  // ---- pointer → pixel → world ----------------------------------------------------------
  function pixelAt(event) {
    const box = canvas.getBoundingClientRect();
    const s = scale();
    return [(event.clientY - box.top) / s - 0.5, (event.clientX - box.left) / s - 0.5];
  }

  let askedAt = 0; // when the last request went out (performance.now())
  /** Ask Python for the values (and label rows) of slice `serial`, under the pointer (0: none). */
  function askReadout(serial) {
    if (model.get("_readout_for") === serial) return;
    model.set("_readout_for", serial);
    model.save_changes();
    askedAt = performance.now();
    if (serial) setTimeout(() => hovered && showValue(hovered), UNANSWERED_MS + 10);
  }

  function setReadout(text, value = "", label = "") {
    readout.textContent = text;
    readout.title = text ? `${text}\n${READOUT_HELP}` : READOUT_HELP; // the whole text, where a narrow slice cuts it
    readout.dataset.value = value;
    readout.dataset.label = label;
  }

  function showValue(event) {
    hovered = { clientX: event.clientX, clientY: event.clientY };
    const g = geometry();
    if (!g.width) return;
    const [row, col] = pixelAt(event);
    const r = Math.round(row);
    const c = Math.round(col);
    if (r < 0 || c < 0 || r >= g.height || c >= g.width) return void setReadout("");
    // The values come when asked, once their slice is drawn (sent with the image, they held its
    // drawing up); until then the readout says so rather than read another slice's. Unanswered
    // (no kernel: a saved notebook; or one busy with a cell), it says what it needs.
    const values = model.get("_values_of") === g.serial ? model.get("_values") : null;
    if (!values) {
      if (shownGeometry().serial === g.serial) askReadout(g.serial);
      const waited = model.get("_readout_for") === g.serial && performance.now() - askedAt >= UNANSWERED_MS;
      return void setReadout(waited ? "the value readout needs the running kernel" : "…");
    }
    const point = pixelToWorld(g, r, c);
    const index = r * g.width + c;
    const value = valueAt(values, model.get("_values_dtype"), index);
    const voxel = voxelOf(g, point);
    const label = labelAt(model.get("_label_rows"), model.get("_label_texts"), 4 * index);
    setReadout(Number.isNaN(value) ? "outside the volume"
      : readoutText(voxel, point, coordinateDecimals(g), model.get("units"), value, label), String(value), label);
  }

  function moveCrosshair(event) {
    const g = geometry();
    if (!g.width) return;
    const [row, col] = pixelAt(event);
    const clamp = (x, n) => Math.min(n - 1, Math.max(0, x));
    pending = pixelToWorld(g, clamp(row, g.height), clamp(col, g.width));
    requestAnimationFrame(() => {
      if (!pending || disposed) return;
      model.set("crosshair", pending);
      model.save_changes();
      pending = null;
    });
  }

  function setIndex(index) {
    const g = geometry();
    const next = stepIndex(index, 0, g.n_slices || 1);
    if (next === model.get("index")) return;
    slider.value = String(next);
    // The cross-hair goes with the step, on the new slice: a click's, still waiting for the next
    // frame, would take the slice back when it came. And a click's already set may wait, busy
    // kernel, in ipywidgets' message buffer, which merges it with the step into one message:
    // Python would then see the old plane's cross-hair and the new index at once, and the
    // cross-hair's observer would move the slice back.
    if (g.width) model.set("crosshair", onSlice(pending || model.get("crosshair"), g, next));
    pending = null;
    model.set("index", next);
    model.save_changes();
  }

  const onPointerLeave = () => {
    hovered = null;
    setReadout("");
    askReadout(0);
  };
  function onKeyDown(event) {
    if (!(event.key in STEP_KEYS)) return;
    // Keep notebook shortcuts out of it: JupyterLab would move the cell selection (and cancel
    // the slider's own step) for the arrow keys.
    event.stopPropagation();
    if (event.target === slider) return; // the slider steps itself; its input event follows
    event.preventDefault();
    setIndex(model.get("index") + STEP_KEYS[event.key]);
  }
  const onSlider = () => setIndex(Number(slider.value));
  // The border says the wheel and the keys step this slice: while the focus is in it, its slider's too.
  const onFocus = () => { root.style.borderColor = "#4a90d9"; };
  const onBlur = (event) => { if (!root.contains(event.relatedTarget)) root.style.borderColor = "transparent"; };

  const cleanup = combineCleanups([
    hideOutputWhenClosed(model, el), // closed from Python: no empty output area left behind
    // A press moves the cross-hair there, a drag drags it; hovering shows the value underneath.
    pointerDrag(canvas, { focus: root, start: moveCrosshair, move: moveCrosshair }),
    focusedWheel(root, (event) => {
      if (event.deltaY) setIndex(model.get("index") + (event.deltaY < 0 ? 1 : -1));
    }),
    listen([
      [canvas, "pointermove", showValue],
      [canvas, "pointerleave", onPointerLeave],
      [root, "keydown", onKeyDown],
      [root, "focusin", onFocus],
      [root, "focusout", onBlur],
      [slider, "input", onSlider],
    ]),
    errors.cleanup,
    listenModel(model, [
      ["change:image", loadImage],
      ["change:_geometry", geometryChanged],
      ["change:_values_of", () => hovered && showValue(hovered)],
      ["change:crosshair", crosshairChanged],
      ["change:show_crosshair", redraw],
      ["change:display_size", redraw],
      ["change:index", updateTitle],
    ]),
  ]);

  root.dataset.axis = model.get("axis");
  loadImage();

  return () => {
    disposed = true;
    images.dispose();
    cleanup();
  };
}

export default { render: guardedRender(render, "SliceView", "image") };
