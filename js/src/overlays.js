// Overlays drawn in the browser over VolumeView's frames: orientation marker, box outline, scale
// bar, colour bar. They are drawn from synced state (camera traits, value_range, units,
// overlay_box, overlay_colors) on a canvas of their own at the display's resolution, so they stay
// crisp over a blurry preview and toggling one never asks the kernel for a frame. The geometry
// mirrors pyvr_jupyter/imaging/overlays.py (the Python twin used by screenshot(overlays=True)).

export const AXIS_COLORS = ["#e63c3c", "#3cc83c", "#4678ff"]; // x red, y green, z blue
const TEXT = "#fff";
const SHADOW = "rgba(0,0,0,0.85)";
const BOX_COLOR = "#c8c8c8";
// Edges behind the volume (both faces beside them turned away from the camera): faint and dashed,
// so that they read as behind it although the overlay canvas lies over the frame.
const HIDDEN_BOX_COLOR = "#6e6e6e";

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit = (a) => {
  const n = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
};

/** Unit vectors {right, up, forward} of a camera, as Camera.basis() in Python. */
export function cameraBasis(position, target, up) {
  const forward = unit(sub(target, position));
  const right = unit(cross(forward, up));
  return { right, up: cross(right, forward), forward };
}

/**
 * CSS-pixel position [x, y] (x to the right, y down, 0..width/height across the image) and depth
 * along the view direction of a world point; depth <= 0: behind the camera.
 */
export function projectPoint(camera, point, width, height) {
  const { right, up, forward } = cameraBasis(camera.position, camera.target, camera.up);
  const offset = sub(point, camera.position);
  const depth = dot(offset, forward);
  const tanHalf = Math.tan((camera.fov * Math.PI) / 360);
  const safe = Math.max(depth, 1e-12);
  const xNdc = dot(offset, right) / (safe * tanHalf * (width / height));
  const yNdc = dot(offset, up) / (safe * tanHalf);
  return { x: ((xNdc + 1) * width) / 2, y: ((1 - yNdc) * height) / 2, depth };
}

/** The round length (1, 2 or 5 × 10^k) nearest below `target` (> 0). */
export function niceLength(target) {
  if (!(target > 0) || !Number.isFinite(target)) return 0;
  const power = 10 ** Math.floor(Math.log10(target));
  let best = power;
  for (const m of [1, 2, 5]) if (m * power <= target * (1 + 1e-9)) best = m * power;
  return best;
}

/** World units per CSS pixel at the target's depth. */
export function worldPerPixel(camera, height) {
  const distance = Math.hypot(...sub(camera.target, camera.position));
  return (2 * distance * Math.tan((camera.fov * Math.PI) / 360)) / height;
}

/** The 8 corners of a box [[x0,y0,z0],[x1,y1,z1]]: corner k takes x from bit 0, y bit 1, z bit 2. */
export function boxCorners(box) {
  const [low, high] = box;
  return Array.from({ length: 8 }, (_, k) => [(k & 1 ? high : low)[0], (k & 2 ? high : low)[1], (k & 4 ? high : low)[2]]);
}
export const BOX_EDGES = [];
for (let a = 0; a < 8; a++) for (const bit of [1, 2, 4]) if (!(a & bit)) BOX_EDGES.push([a, a | bit]);

/**
 * For each of BOX_EDGES, whether it is hidden: both faces it joins look away from the camera
 * (the camera is not outside the box on either face's side), so the volume lies in front of it.
 * Mirrors box_hidden_edges in pyvr_jupyter/imaging/overlays.py.
 */
export function hiddenEdges(camera, box) {
  const [low, high] = box;
  const seen = (axis, side) => (side ? camera.position[axis] > high[axis] : camera.position[axis] < low[axis]);
  return BOX_EDGES.map(([a, b]) => {
    const along = Math.log2(a ^ b); // the axis the edge runs along
    const faces = [0, 1, 2].filter((axis) => axis !== along).map((axis) => seen(axis, (a >> axis) & 1));
    return !faces[0] && !faces[1];
  });
}

/** Screen directions [dx, dy] (y down) of world +x, +y, +z, length 1 when seen side on. */
export function axisDirections(camera) {
  const { right, up } = cameraBasis(camera.position, camera.target, camera.up);
  return [0, 1, 2].map((axis) => [right[axis], -up[axis]]);
}

/** A number as "%.4g" would print it. */
export function formatValue(value) {
  if (value === 0) return "0";
  const text = Number(value.toPrecision(4));
  return Math.abs(text) >= 1e5 || Math.abs(text) < 1e-4 ? text.toExponential().replace(/\.?0+e/, "e") : String(text);
}

function outlinedText(ctx, text, x, y, size, align = "left", baseline = "middle") {
  ctx.font = `${size}px sans-serif`;
  ctx.textAlign = align;
  ctx.textBaseline = baseline;
  ctx.lineJoin = "round";
  ctx.lineWidth = 3;
  ctx.strokeStyle = SHADOW;
  ctx.strokeText(text, x, y);
  ctx.fillStyle = TEXT;
  ctx.fillText(text, x, y);
}

function outlinedLine(ctx, x0, y0, x1, y1, color, width) {
  ctx.lineCap = "round";
  ctx.strokeStyle = SHADOW;
  ctx.lineWidth = width + 2;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.stroke();
}

function drawBox(ctx, camera, box, width, height) {
  const corners = boxCorners(box);
  const { forward } = cameraBasis(camera.position, camera.target, camera.up);
  const near = 1e-3 * Math.max(1, Math.hypot(...sub(camera.target, camera.position)));
  const lineWidth = Math.max(1, Math.min(width, height) / 256);
  const hidden = hiddenEdges(camera, box);
  const order = BOX_EDGES.map((_, i) => i).sort((i, j) => hidden[j] - hidden[i]); // hidden edges first
  for (const i of order) {
    const [a, b] = BOX_EDGES[i];
    let p = corners[a];
    let q = corners[b];
    const dp = dot(sub(p, camera.position), forward);
    const dq = dot(sub(q, camera.position), forward);
    if (dp < near && dq < near) continue;
    if (dp < near || dq < near) { // cut at the near plane
      const s = (near - dp) / (dq - dp);
      const cut = [p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1]), p[2] + s * (q[2] - p[2])];
      if (dp < near) p = cut; else q = cut;
    }
    const P = projectPoint(camera, p, width, height);
    const Q = projectPoint(camera, q, width, height);
    if (hidden[i]) {
      ctx.save();
      ctx.setLineDash([4 * lineWidth, 4 * lineWidth]);
      ctx.lineCap = "butt";
      ctx.strokeStyle = HIDDEN_BOX_COLOR;
      ctx.lineWidth = lineWidth;
      ctx.beginPath();
      ctx.moveTo(P.x, P.y);
      ctx.lineTo(Q.x, Q.y);
      ctx.stroke();
      ctx.restore();
    } else {
      outlinedLine(ctx, P.x, P.y, Q.x, Q.y, BOX_COLOR, lineWidth);
    }
  }
}

/** The marker's geometry: its centre and the end of each axis, CSS pixels (bottom-left corner). */
export function axesLayout(camera, width, height) {
  const length = Math.max(12, Math.min(width, height) / 8);
  const margin = Math.max(6, length / 3);
  const cx = margin + length;
  const cy = height - margin - length;
  const ends = axisDirections(camera).map(([dx, dy]) => [cx + length * dx, cy + length * dy]);
  return { cx, cy, length, ends };
}

function drawAxes(ctx, camera, width, height, fontSize) {
  const { cx, cy, length, ends } = axesLayout(camera, width, height);
  const { forward } = cameraBasis(camera.position, camera.target, camera.up);
  const order = [0, 1, 2].sort((a, b) => forward[b] - forward[a]); // farthest first
  for (const axis of order) {
    const [x, y] = ends[axis];
    outlinedLine(ctx, cx, cy, x, y, AXIS_COLORS[axis], Math.max(2, length / 20));
    outlinedText(ctx, "xyz"[axis], cx + 1.25 * (x - cx), cy + 1.25 * (y - cy), fontSize, "center");
  }
}

/** The scale bar: its length in world units and pixels, for a width × height view. */
export function scaleBar(camera, width, height, fraction = 0.2) {
  const perPixel = worldPerPixel(camera, height);
  const length = niceLength(fraction * width * perPixel);
  return { length, pixels: perPixel > 0 ? length / perPixel : 0 };
}

function drawScale(ctx, camera, units, width, height, fontSize) {
  const { length, pixels } = scaleBar(camera, width, height);
  if (!(pixels > 0)) return;
  const margin = Math.max(6, Math.min(width, height) / 24);
  const x1 = width - margin;
  const y = height - margin;
  const thickness = Math.max(2, height / 128);
  ctx.fillStyle = SHADOW;
  ctx.fillRect(x1 - pixels - 1, y - thickness - 1, pixels + 2, thickness + 2);
  ctx.fillStyle = TEXT;
  ctx.fillRect(x1 - pixels, y - thickness, pixels, thickness);
  outlinedText(ctx, `${formatValue(length)} ${units || ""}`.trim(), x1 - pixels / 2, y - thickness - 3, fontSize,
    "center", "bottom");
}

function drawColorbar(ctx, colors, valueRange, width, height, fontSize) {
  if (!colors || colors.length < 2 || !valueRange || valueRange.length !== 2) return;
  const [vmin, vmax] = valueRange;
  const barH = Math.max(8, 0.5 * height);
  const barW = Math.max(4, Math.min(width, height) / 32);
  const margin = Math.max(6, Math.min(width, height) / 24);
  const x0 = width - margin - barW;
  const y0 = (height - barH) / 2;
  const gradient = ctx.createLinearGradient(0, y0 + barH, 0, y0); // vmin at the bottom
  colors.forEach((color, i) => gradient.addColorStop(i / (colors.length - 1), color));
  ctx.fillStyle = SHADOW;
  ctx.fillRect(x0 - 1, y0 - 1, barW + 2, barH + 2);
  ctx.fillStyle = gradient;
  ctx.fillRect(x0, y0, barW, barH);
  for (const [value, y] of [[vmax, y0], [(vmin + vmax) / 2, y0 + barH / 2], [vmin, y0 + barH]]) {
    outlinedText(ctx, formatValue(value), x0 - 4, y, fontSize, "right");
  }
}

/**
 * Draw the overlays `state` asks for on a context whose transform maps CSS pixels (width × height).
 * Returns the names drawn.
 */
export function drawOverlays(ctx, state, width, height) {
  ctx.clearRect(0, 0, width, height);
  const camera = { position: state.camera_position, target: state.camera_target, up: state.camera_up, fov: state.fov };
  if (!camera.position || !camera.target || !camera.up) return [];
  const fontSize = Math.max(10, Math.round(height / 40));
  const drawn = [];
  if (state.show_box && state.overlay_box && state.overlay_box.length === 2) {
    drawBox(ctx, camera, state.overlay_box, width, height);
    drawn.push("box");
  }
  if (state.show_scale) {
    drawScale(ctx, camera, state.units, width, height, fontSize);
    drawn.push("scale");
  }
  if (state.show_colorbar) {
    drawColorbar(ctx, state.overlay_colors, state.value_range, width, height, fontSize);
    drawn.push("colorbar");
  }
  if (state.show_axes) {
    drawAxes(ctx, camera, width, height, fontSize);
    drawn.push("axes");
  }
  return drawn;
}

/** The traits the overlays read: a change of any redraws them. */
export const OVERLAY_TRAITS = ["show_axes", "show_box", "show_scale", "show_colorbar", "units", "overlay_box",
  "overlay_colors", "value_range", "camera_position", "camera_target", "camera_up", "fov"];
