import { test } from "node:test";
import assert from "node:assert/strict";
import { pixelToWorld, stepIndex, voxelOf, worldToPixel } from "../src/slice_view.js";

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

test("stepIndex keeps the index inside the volume", () => {
  assert.equal(stepIndex(3, 1, 5), 4);
  assert.equal(stepIndex(4, 10, 5), 4);
  assert.equal(stepIndex(0, -1, 5), 0);
});
