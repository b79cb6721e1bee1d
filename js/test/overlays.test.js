import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BOX_EDGES, axesLayout, axisDirections, boxCorners, cameraBasis, drawOverlays, formatValue, niceLength,
  projectPoint, scaleBar,
} from "../src/overlays.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);
const front = { position: [0, 0, 10], target: [0, 0, 0], up: [0, 1, 0], fov: 90 };

test("the basis matches Camera.basis(): right, true up, forward", () => {
  const { right, up, forward } = cameraBasis([0, 0, 10], [0, 0, 0], [0, 1, 0]);
  assert.deepEqual(forward, [0, 0, -1]);
  assert.deepEqual(right.map((v) => v + 0), [1, 0, 0]);
  assert.deepEqual(up.map((v) => v + 0), [0, 1, 0]);
});

test("projection: the target at the centre, right and up where they belong, depth along the view", () => {
  const centre = projectPoint(front, [0, 0, 0], 200, 100);
  close(centre.x, 100); close(centre.y, 50); close(centre.depth, 10);
  // fov 90: at depth 10 the half-height is 10 world units, the half-width 20 (aspect 2)
  const top = projectPoint(front, [0, 10, 0], 200, 100);
  close(top.x, 100); close(top.y, 0);
  const right = projectPoint(front, [20, 0, 0], 200, 100);
  close(right.x, 200); close(right.y, 50);
  assert.ok(projectPoint(front, [0, 0, 20], 200, 100).depth < 0); // behind the camera
});

test("projection agrees with the Python twin (pixel centres differ by half a pixel)", () => {
  // overlays.project_points(Camera((3, 4, 12), (1, 0, 0), (0, 1, 0), 40), [[2, 1, -1]], (90, 120))
  const camera = { position: [3, 4, 12], target: [1, 0, 0], up: [0, 1, 0], fov: 40 };
  const p = projectPoint(camera, [2, 1, -1], 120, 90);
  close(p.x - 0.5, 70.21807747, 1e-4); // the Python camera holds float32
  close(p.y - 0.5, 33.26107228, 1e-4);
});

test("the axes marker turns with the camera", () => {
  const [x, y, z] = axisDirections(front);
  assert.deepEqual([x[0], x[1] + 0], [1, 0]); // +x to the right
  assert.deepEqual([y[0] + 0, y[1]], [0, -1]); // +y up (screen y grows down)
  close(Math.hypot(...z), 0); // +z towards the viewer: a point
  const side = { ...front, position: [10, 0, 0] }; // from +x, looking down -x with y up
  const [, , zSide] = axisDirections(side);
  close(zSide[0], -1); // +z points left
  const a = axesLayout(front, 400, 300);
  const b = axesLayout(side, 400, 300);
  assert.notDeepEqual(a.ends, b.ends);
  assert.ok(a.cx < 200 && a.cy > 150); // bottom-left corner
});

test("round lengths and the scale bar", () => {
  assert.equal(niceLength(37), 20);
  assert.equal(niceLength(0.8), 0.5);
  assert.equal(niceLength(100), 100);
  assert.equal(niceLength(0), 0);
  const { length, pixels } = scaleBar(front, 200, 100); // 0.2 m/px world: 20 units over 100 px
  assert.equal(length, 5); // 0.2 * 200 px * 0.2 units/px = 8 → 5
  close(pixels, 25);
});

test("box corners and edges", () => {
  const corners = boxCorners([[0, 0, 0], [1, 2, 3]]);
  assert.deepEqual(corners[0], [0, 0, 0]);
  assert.deepEqual(corners[7], [1, 2, 3]);
  assert.deepEqual(corners[5], [1, 0, 3]);
  assert.equal(BOX_EDGES.length, 12);
});

test("numbers print as %.4g would", () => {
  assert.equal(formatValue(0.123456), "0.1235");
  assert.equal(formatValue(1234.5), "1235");
  assert.equal(formatValue(0), "0");
  assert.equal(formatValue(-2.5), "-2.5");
  // The same cases as tests/imaging/test_overlays.py's format_value (a saved picture's colour bar).
  for (const [value, text] of [[17283, "17280"], [-1085.5, "-1086"], [2.5e-5, "2.5e-5"], [1.5e7, "1.5e+7"],
    [0.00012345, "0.0001234"], [99999, "1e+5"]]) {
    assert.equal(formatValue(value), text);
  }
});

test("drawOverlays draws what is asked on any 2-D context", () => {
  const calls = [];
  const ctx = new Proxy({}, {
    get: (target, name) => (name in target ? target[name] : (...args) => { calls.push(name); return { addColorStop() {} }; }),
    set: (target, name, value) => { target[name] = value; return true; },
  });
  const state = { camera_position: [0, 0, 10], camera_target: [0, 0, 0], camera_up: [0, 1, 0], fov: 45,
    show_axes: true, show_box: true, show_scale: false, show_colorbar: true, units: "mm",
    overlay_box: [[-1, -1, -1], [1, 1, 1]], overlay_colors: ["#000000", "#ffffff"], value_range: [0, 1] };
  assert.deepEqual(drawOverlays(ctx, state, 100, 100), ["box", "colorbar", "axes"]);
  assert.ok(calls.includes("clearRect") && calls.includes("fillText"));
  assert.deepEqual(drawOverlays(ctx, { ...state, show_axes: false, show_box: false, show_colorbar: false }, 100, 100), []);
});

test("fullscreen asks for the viewport's size, clamped as Python clamps", async () => {
  const { fullscreenSize } = await import("../src/fullscreen.js");
  assert.deepEqual(fullscreenSize({ innerWidth: 1920.4, innerHeight: 1080 }), { width: 1920, height: 1080 });
  assert.deepEqual(fullscreenSize({ innerWidth: 9000, innerHeight: 3 }), { width: 4096, height: 16 });
});

test("edges behind the volume are hidden, as the Python twin finds them", async () => {
  const { hiddenEdges } = await import("../src/overlays.js");
  const box = [[0, 0, 0], [1, 1, 1]];
  // overlays.box_hidden_edges(Camera((3, 4, 12), (0.5, 0.5, 0.5)), box): the three edges at the far corner
  const outside = hiddenEdges({ position: [3, 4, 12], target: [0.5, 0.5, 0.5], up: [0, 1, 0] }, box);
  assert.deepEqual(BOX_EDGES.filter((_, i) => outside[i]), [[0, 1], [0, 2], [0, 4]]);
  // In front of the z = 1 face: the four edges of the far face and the four along z are behind.
  const front = hiddenEdges({ position: [0.5, 0.5, 5], target: [0.5, 0.5, 0.5], up: [0, 1, 0] }, box);
  assert.deepEqual(BOX_EDGES.filter((_, i) => front[i]), [[0, 1], [0, 2], [0, 4], [1, 3], [1, 5], [2, 3], [2, 6], [3, 7]]);
  // Inside the box every face looks away: every edge is behind.
  assert.ok(hiddenEdges({ position: [0.5, 0.5, 0.5], target: [0, 0, 0], up: [0, 1, 0] }, box).every(Boolean));
});

test("hidden edges are drawn dashed and faint, the others solid", () => {
  const dashes = [];
  const strokes = [];
  const ctx = new Proxy({ lineDash: [] }, {
    get: (target, name) => {
      if (name === "setLineDash") return (d) => { target.lineDash = d; dashes.push(d); };
      if (name === "stroke") return () => strokes.push([target.strokeStyle, target.lineDash.length > 0]);
      if (name === "save") return () => {};
      if (name === "restore") return () => { target.lineDash = []; };
      return name in target ? target[name] : () => ({ addColorStop() {} });
    },
    set: (target, name, value) => { target[name] = value; return true; },
  });
  const state = { camera_position: [3, 4, 12], camera_target: [0.5, 0.5, 0.5], camera_up: [0, 1, 0], fov: 45,
    show_box: true, overlay_box: [[0, 0, 0], [1, 1, 1]] };
  drawOverlays(ctx, state, 100, 100);
  const dashed = strokes.filter(([, d]) => d);
  assert.equal(dashed.length, 3);
  assert.ok(dashed.every(([color]) => color === "#6e6e6e"));
  assert.ok(strokes.slice(0, 3).every(([, d]) => d)); // drawn first, under the solid edges
  assert.ok(strokes.filter(([color, d]) => !d && color === "#c8c8c8").length === 9);
});
