// VolumeView's browser side: draws frames sent by the kernel and reports input.
// All camera maths lives in Python; this file only turns DOM events into messages.
import { Coalescer, dragMode, framesPerSecond, wheelFactor } from "./interaction.js";

/**
 * @typedef Model  (mirrors VolumeView's synced traits)
 * @property {number} width
 * @property {number} height
 * @property {DataView} snapshot  last full-quality PNG
 * @property {string} error
 * @property {boolean} show_stats
 */

const NAVIGATION_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "+", "=", "-", "r", "R"]);

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "pyvr-view";
  root.tabIndex = 0; // focusable: the wheel and keys act only while the view has focus
  // `resize: both` gives the view a drag handle in its corner; a ResizeObserver reports it.
  root.style.cssText =
    "position:relative;display:inline-block;outline:none;line-height:0;resize:both;overflow:hidden;";
  const canvas = document.createElement("canvas");
  canvas.className = "pyvr-canvas";
  canvas.style.cssText = "touch-action:none;cursor:grab;display:block;";
  const overlay = document.createElement("div");
  overlay.className = "pyvr-stats";
  overlay.style.cssText =
    "position:absolute;top:4px;left:4px;font:11px monospace;line-height:1.3;color:#fff;" +
    "background:rgba(0,0,0,.5);padding:2px 4px;border-radius:3px;pointer-events:none;";
  const errorBox = document.createElement("div");
  errorBox.className = "pyvr-error";
  errorBox.style.cssText =
    "position:absolute;left:0;right:0;bottom:0;font:12px sans-serif;line-height:1.4;color:#fff;" +
    "background:rgba(160,0,0,.85);padding:4px 6px;white-space:pre-wrap;";
  root.append(canvas, overlay, errorBox);
  el.appendChild(root);
  const context = canvas.getContext("2d");

  const frameTimes = [];
  let drawn = 0;
  let latestId = 0;
  let disposed = false;

  function resize() {
    const ratio = window.devicePixelRatio || 1; // HiDPI: back the canvas with device pixels
    const width = model.get("width");
    const height = model.get("height");
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    root.style.width = `${width}px`;
    root.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }

  async function drawBlob(blob, id) {
    const bitmap = await createImageBitmap(blob);
    if (disposed) return bitmap.close();
    requestAnimationFrame(() => {
      context.imageSmoothingEnabled = true;
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height); // previews are upscaled
      bitmap.close();
      drawn += 1;
      canvas.dataset.drawn = String(drawn);
      if (id !== undefined) {
        canvas.dataset.frameId = String(id);
        model.send({ type: "ack", id });
        frameTimes.push(performance.now());
        if (frameTimes.length > 30) frameTimes.shift();
        updateOverlay();
      }
    });
  }

  function updateOverlay() {
    overlay.style.display = model.get("show_stats") ? "block" : "none";
    overlay.textContent = `${framesPerSecond(frameTimes).toFixed(1)} fps · frame ${latestId}`;
  }

  function updateError() {
    const message = model.get("error");
    errorBox.textContent = message ? `Rendering failed: ${message}` : "";
    errorBox.style.display = message ? "block" : "none";
  }

  function drawSnapshot() {
    const snapshot = model.get("snapshot");
    if (snapshot && snapshot.byteLength && drawn === 0) {
      drawBlob(new Blob([snapshot], { type: "image/png" }));
    }
  }

  function onCustom(message, buffers) {
    if (!message || message.type !== "frame" || !buffers || !buffers.length) return;
    latestId = message.id;
    drawBlob(new Blob([buffers[0]], { type: message.mime }), message.id);
  }

  // ---- input ------------------------------------------------------------------------
  const coalescer = new Coalescer((motion) => model.send(motion));
  let drag = null;

  function onPointerDown(event) {
    root.focus({ preventScroll: true });
    drag = { mode: dragMode(event.button, event.shiftKey), x: event.clientX, y: event.clientY };
    canvas.setPointerCapture(event.pointerId);
    canvas.style.cursor = "grabbing";
    event.preventDefault();
  }
  function onPointerMove(event) {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (dx || dy) coalescer.push({ type: drag.mode, dx, dy });
  }
  function onPointerUp(event) {
    if (!drag) return;
    drag = null;
    canvas.style.cursor = "grab";
    if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
    coalescer.flush();
    model.send({ type: "end" });
  }
  function onWheel(event) {
    if (document.activeElement !== root) return; // let the page scroll until the view is focused
    event.preventDefault();
    coalescer.push({ type: "zoom", factor: wheelFactor(event.deltaY, event.deltaMode) });
  }
  function onKeyDown(event) {
    if (!NAVIGATION_KEYS.has(event.key)) return;
    event.preventDefault();
    event.stopPropagation(); // keep notebook shortcuts (e.g. "r", arrows) out of it
    model.send({ type: "key", key: event.key });
  }
  function onDoubleClick(event) {
    event.preventDefault();
    model.send({ type: "reset" });
  }
  const onContextMenu = (event) => event.preventDefault(); // right-drag pans

  // The user dragged the corner: ask Python for frames of the new size (it validates and clamps).
  let resizeTimer = null;
  const resizeObserver = new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const width = Math.round(root.clientWidth);
      const height = Math.round(root.clientHeight);
      if (Math.abs(width - model.get("width")) > 1 || Math.abs(height - model.get("height")) > 1) {
        model.send({ type: "resize", width, height });
      }
    }, 100);
  });
  resizeObserver.observe(root);

  // Views scrolled out of sight get no frames.
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) model.send({ type: "visibility", visible: entry.isIntersecting });
  });
  observer.observe(root);

  // Every listener in one table, so the cleanup removes exactly what was added.
  const listeners = [
    [canvas, "pointerdown", onPointerDown],
    [canvas, "pointermove", onPointerMove],
    [canvas, "pointerup", onPointerUp],
    [canvas, "pointercancel", onPointerUp],
    [canvas, "dblclick", onDoubleClick],
    [canvas, "contextmenu", onContextMenu],
    [root, "wheel", onWheel, { passive: false }],
    [root, "keydown", onKeyDown],
  ];
  const modelEvents = [
    ["msg:custom", onCustom],
    ["change:width", resize],
    ["change:height", resize],
    ["change:error", updateError],
    ["change:show_stats", updateOverlay],
  ];
  for (const [target, type, handler, options] of listeners) target.addEventListener(type, handler, options);
  for (const [event, handler] of modelEvents) model.on(event, handler);

  resize();
  updateError();
  updateOverlay();
  drawSnapshot();
  model.send({ type: "ready" });

  return () => {
    disposed = true;
    coalescer.dispose();
    observer.disconnect();
    resizeObserver.disconnect();
    clearTimeout(resizeTimer);
    for (const [target, type, handler, options] of listeners) target.removeEventListener(type, handler, options);
    for (const [event, handler] of modelEvents) model.off(event, handler);
  };
}

export default { render };
