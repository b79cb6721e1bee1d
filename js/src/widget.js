// VolumeView's browser side: draws frames sent by the kernel and reports input.
// All camera maths lives in Python; this file only turns DOM events into messages.
import { Coalescer, Latest, dragMode, newViewId, recentFps, wheelFactor } from "./interaction.js";
import { OVERLAY_TRAITS, axesLayout, drawOverlays } from "./overlays.js";
import { attachFullscreen } from "./fullscreen.js";
import {
  NewestImage, combineCleanups, errorBox, errorMessage, focusedWheel, guardedRender, hideOutputWhenClosed, listen, listenModel,
  pointerDrag, shownSize, watchPageTheme,
} from "./dom.js";

/**
 * @typedef Model  (mirrors VolumeView's synced traits)
 * @property {number} width
 * @property {number} height
 * @property {DataView} snapshot  last full-quality PNG
 * @property {string} error
 * @property {boolean} show_stats
 * @property {boolean} show_axes  overlays (drawn here, see overlays.js): show_axes, show_box,
 *   show_scale, show_colorbar, units, overlay_box, overlay_colors, value_range, camera_*, fov
 * @property {number} time_index
 * @property {Object<string, string>} label_names  a view with labels: {ID: name} (hover asks Python)
 * @property {string} hover_label  "ID · name" of the label under the resting pointer, "" elsewhere
 * @property {string} notice  what the kernel is waiting for (the fast renderer compiling), "" when nothing
 */

/** The bytes of base64 text (frames sent as text where binary buffers are dropped). */
export function base64Bytes(text) {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch (err) {
    return null;
  }
}

const NAVIGATION_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "+", "=", "-", "r", "R"]);
const OVERLAY_CSS = "position:absolute;font:11px monospace;line-height:1.3;color:#fff;pointer-events:none;";

function render({ model, el }) {
  const viewId = newViewId(); // one model can be displayed several times: visibility is per view
  const root = document.createElement("div");
  root.className = "pyvr-view";
  root.tabIndex = 0; // focusable: the wheel and keys act only while the view has focus
  // Right-drag pans: JupyterLab must not open its context menu over the view.
  root.dataset.jpSuppressContextMenu = "true";
  // Notebook 7 matches shortcuts in the capture phase: without this its command mode took the
  // arrow keys (cell navigation) before they reached the view.
  root.dataset.lmSuppressShortcuts = "true";
  // `resize: both` gives the view a drag handle in its corner; a ResizeObserver reports it.
  root.style.cssText =
    "position:relative;display:inline-block;outline:none;line-height:0;resize:both;overflow:hidden;";
  const canvas = document.createElement("canvas");
  canvas.className = "pyvr-canvas";
  canvas.style.cssText = "touch-action:none;cursor:grab;display:block;";
  const overlay = document.createElement("div");
  overlay.className = "pyvr-stats";
  overlay.style.cssText = OVERLAY_CSS + "top:4px;left:4px;background:rgba(0,0,0,.5);padding:2px 4px;border-radius:3px;";
  const errors = errorBox(model, {
    prefix: "Rendering failed: ",
    style: "position:absolute;left:0;right:0;bottom:0;font:12px sans-serif;line-height:1.4;color:#fff;" +
      "background:rgba(160,0,0,.85);padding:4px 6px;white-space:pre-wrap;",
  });
  const disconnected = document.createElement("div");
  disconnected.className = "pyvr-disconnected";
  disconnected.textContent = "disconnected: the kernel is gone; run the cell again";
  disconnected.style.cssText =
    "position:absolute;inset:0;display:none;align-items:center;justify-content:center;text-align:center;" +
    "font:13px sans-serif;line-height:1.4;color:#fff;background:rgba(40,40,40,.6);";
  // Overlays on a canvas of their own over the frames, at the display's resolution.
  const overlayCanvas = document.createElement("canvas");
  overlayCanvas.className = "pyvr-overlays";
  overlayCanvas.style.cssText = "position:absolute;left:0;top:0;pointer-events:none;";
  // The label under the resting pointer (a view with labels), named by Python (``hover_label``).
  const hoverLabel = document.createElement("div");
  hoverLabel.className = "pyvr-hover-label";
  hoverLabel.style.cssText = OVERLAY_CSS + "left:4px;bottom:4px;background:rgba(0,0,0,.6);padding:2px 4px;" +
    "border-radius:3px;display:none;";
  // What the kernel is waiting for (the fast renderer compiling on first use), set by Python.
  const notice = document.createElement("div");
  notice.className = "pyvr-notice";
  // Top right, left of the full-screen button: the scale bar, the axes and the label readout hold the bottom.
  notice.style.cssText = OVERLAY_CSS + "right:36px;top:4px;max-width:70%;white-space:normal;text-align:right;" +
    "background:rgba(0,0,0,.6);padding:2px 4px;border-radius:3px;display:none;";
  root.append(canvas, overlayCanvas, overlay, hoverLabel, notice, errors.element, disconnected);
  el.appendChild(root);
  const context = canvas.getContext("2d");
  const fullscreen = attachFullscreen(root, model, (message) => send(message));

  const drawTimes = []; // when frames were drawn (ms), for the fps overlay
  let drawn = 0;
  let inputSince = null; // when the first input not yet answered by a frame was sent
  let inputLatency = null; // last input → frame drawn, ms
  let disposed = false;

  function send(message) {
    try {
      model.send(message);
    } catch (err) {
      showDisconnected(true); // no comm any more
    }
  }

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
    overlayCanvas.style.width = `${width}px`;
    overlayCanvas.style.height = `${height}px`;
    overlayCanvas.width = canvas.width;
    overlayCanvas.height = canvas.height;
    paintBackground();
    drawOverlayLayer();
  }

  // Until a frame arrives (the first, or the next after a resize, which clears the canvas) the
  // view shows its scene's background, not the page's: an empty scene, not a hole in the notebook.
  function paintBackground() {
    const rgb = model.get("background") || [0, 0, 0];
    context.fillStyle = `rgb(${rgb.map((c) => Math.round(255 * Math.min(1, Math.max(0, +c || 0)))).join(",")})`;
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  // Redrawn once per animation frame whatever changed; never asks the kernel for a frame.
  let overlayPending = 0;
  function redrawOverlays() {
    if (overlayPending) return;
    overlayPending = requestAnimationFrame(() => {
      overlayPending = 0;
      drawOverlayLayer();
    });
  }
  function drawOverlayLayer() {
    if (disposed) return;
    const width = model.get("width");
    const height = model.get("height");
    const ratio = overlayCanvas.width / Math.max(1, width);
    const state = Object.fromEntries(OVERLAY_TRAITS.map((name) => [name, model.get(name)]));
    const ctx = overlayCanvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const drawn = drawOverlays(ctx, state, width, height);
    overlayCanvas.dataset.drawn = drawn.join(",");
    overlayCanvas.dataset.redraws = String(Number(overlayCanvas.dataset.redraws || 0) + 1);
    if (state.show_axes) {
      const camera = { position: state.camera_position, target: state.camera_target, up: state.camera_up };
      overlayCanvas.dataset.axes = JSON.stringify(axesLayout(camera, width, height).ends);
    }
  }

  // Frames are acknowledged once drawn (Python's flow control waits for that). A frame is drawn
  // as soon as it is decoded, not in the next animation frame: the canvas shows it at the next
  // paint either way, and the acknowledgement goes out up to a frame earlier, which lets the
  // kernel start its next frame sooner. Frame ids order the frames: one that decodes after a
  // newer one was drawn is skipped, and acknowledged all the same (as is one that fails to
  // decode), or flow control would wait for it in vain.
  const frames = new NewestImage({
    draw(image) { // an ImageBitmap, a VideoFrame (ImageDecoder) or an <img>
      context.imageSmoothingEnabled = true;
      context.drawImage(image, 0, 0, canvas.width, canvas.height); // previews are upscaled
      drawn += 1;
      canvas.dataset.drawn = String(drawn);
      errors.report("");
    },
    onError(err) {
      canvas.dataset.decodeErrors = String(Number(canvas.dataset.decodeErrors || 0) + 1);
      errors.report(`A frame could not be drawn: ${errorMessage(err)}`);
    },
  });

  /** Draw a frame (`id` undefined: the saved snapshot, older than any frame), then acknowledge it. */
  async function drawFrame(encoded, id, kind) {
    const outcome = await frames.push(encoded, {}, id === undefined ? 0 : id);
    if (id === undefined || outcome === "disposed") return;
    send({ type: "ack", id });
    if (outcome !== "drawn") return;
    canvas.dataset.frameId = String(id);
    canvas.dataset.kind = kind || "";
    const now = performance.now();
    drawTimes.push(now);
    if (drawTimes.length > 120) drawTimes.shift();
    if (inputSince !== null) {
      inputLatency = now - inputSince;
      canvas.dataset.inputLatency = inputLatency.toFixed(1);
      inputSince = null;
    }
    updateOverlay();
  }

  function updateOverlay() {
    overlay.style.display = model.get("show_stats") ? "block" : "none";
    if (!model.get("show_stats")) return;
    const latency = inputLatency === null ? "–" : `${inputLatency.toFixed(0)} ms`;
    overlay.textContent = `${recentFps(drawTimes).toFixed(1)} fps · input→frame ${latency}`;
  }

  function showNotice() {
    const text = model.get("notice") || "";
    notice.textContent = text;
    notice.style.display = text ? "block" : "none";
  }

  function showDisconnected(gone) {
    disconnected.style.display = gone ? "flex" : "none";
    root.dataset.disconnected = gone ? "true" : "false";
  }
  // The widget manager triggers this when the kernel goes away (restart, shutdown). anywidget
  // calls it with the widget view as `this`, whose model says whether its comm is live; where
  // it cannot tell, the event itself means the kernel is gone (a new kernel makes new views).
  function onCommLive() {
    const live = this && this.model ? this.model.comm_live : undefined;
    showDisconnected(live !== true);
  }

  function drawSnapshot() {
    const snapshot = model.get("snapshot");
    if (snapshot && snapshot.byteLength && drawn === 0) {
      drawFrame({ bytes: snapshot, type: "image/png" });
    }
  }

  // Frames come as a binary buffer. A widget manager that drops buffers (Colab's CDN manager) hands
  // over the message alone: say so, and Python sends the bytes as base64 text in the message.
  let buffersMissing = false;
  function onCustom(message, buffers) {
    if (!message || message.type !== "frame") return;
    let bytes = buffers && buffers.length ? buffers[0] : null;
    if (!bytes && typeof message.data === "string") bytes = base64Bytes(message.data);
    if (!bytes) {
      send({ type: "ack", id: message.id }); // never drawn, but not in flight either
      if (!buffersMissing) send({ type: "buffers_missing", id: message.id });
      buffersMissing = true;
      root.dataset.transport = "buffers-missing";
      return;
    }
    if (typeof message.data === "string") root.dataset.transport = "base64";
    drawFrame({ bytes, type: message.mime }, message.id, message.kind);
  }

  // ---- input ------------------------------------------------------------------------
  // Input goes out once per animation frame rather than every 20 ms: measured in headless
  // Chromium on a loaded 2-core machine, drag → new frame median 87-140 ms against 110-192 ms.
  const coalescer = new Coalescer((motion) => {
    if (inputSince === null) inputSince = performance.now();
    send(motion);
  }, 0, (fn) => requestAnimationFrame(fn), (handle) => cancelAnimationFrame(handle));
  let mode = "orbit"; // of the current drag

  const dragCleanup = pointerDrag(canvas, {
    focus: root,
    start(event) {
      mode = dragMode(event.button, event.shiftKey);
      canvas.style.cursor = "grabbing";
    },
    move(event, dx, dy) {
      if (dx || dy) coalescer.push({ type: mode, dx, dy });
    },
    end() {
      canvas.style.cursor = "grab";
      coalescer.flush();
      send({ type: "end" });
    },
  });
  // A pointer resting over a view with labels asks which label it is over (at most every 80 ms);
  // a drag, the wheel or leaving the view hides the answer (and one that arrives late).
  const hover = new Latest((position) => send({ type: "hover", ...position }), 80);
  let hovering = false; // the pointer rests over the view and has asked
  function onHover(event) {
    if (event.buttons !== 0) return hideHoverLabel();
    if (!Object.keys(model.get("label_names") || {}).length) return;
    const box = canvas.getBoundingClientRect();
    if (!box.width || !box.height) return;
    hovering = true;
    hover.push({ x: (event.clientX - box.left) / box.width, y: (event.clientY - box.top) / box.height });
  }
  function hideHoverLabel() {
    hover.dispose();
    if (hovering) send({ type: "hover", x: null, y: null });
    hovering = false;
    hoverLabel.textContent = "";
    hoverLabel.style.display = "none";
  }
  function showHoverLabel() {
    const text = hovering ? model.get("hover_label") || "" : "";
    hoverLabel.textContent = text;
    hoverLabel.style.display = text ? "block" : "none";
  }
  const wheelCleanup = focusedWheel(root, (event) => {
    coalescer.push({ type: "zoom", factor: wheelFactor(event.deltaY, event.deltaMode) });
  });
  function onKeyDown(event) {
    if (!NAVIGATION_KEYS.has(event.key)) return;
    event.preventDefault();
    event.stopPropagation(); // keep notebook shortcuts (e.g. "r", arrows) out of it
    if (inputSince === null) inputSince = performance.now();
    send({ type: "key", key: event.key });
  }
  function onDoubleClick(event) {
    event.preventDefault();
    send({ type: "reset" });
  }
  function onContextMenu(event) {
    event.preventDefault(); // right-drag pans: no browser menu...
    event.stopPropagation(); // ...and none from JupyterLab, which listens on the document
  }

  // The user dragged the corner: ask Python for frames of the new size (it validates and clamps).
  let resizeTimer = null;
  const resizeObserver = new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    if (fullscreen.isActive()) return; // fullscreen asks for its own size
    resizeTimer = setTimeout(() => {
      if (fullscreen.isActive()) return;
      const size = shownSize(root); // none while hidden (another tab in front): not a resize
      if (size && (Math.abs(size.width - model.get("width")) > 1 || Math.abs(size.height - model.get("height")) > 1)) {
        send({ type: "resize", ...size });
      }
    }, 100);
  });
  resizeObserver.observe(root);

  // Views scrolled out of sight get no frames; Python sends frames while any view is visible.
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) send({ type: "visibility", visible: entry.isIntersecting, view: viewId });
  });
  observer.observe(root);

  // Every listener through listen()/listenModel(), so the cleanup removes exactly what was added.
  const cleanup = combineCleanups([
    hideOutputWhenClosed(model, el), // closed from Python: no empty output area left behind
    listen([
      [canvas, "dblclick", onDoubleClick],
      [canvas, "pointermove", onHover],
      [canvas, "pointerleave", hideHoverLabel],
      [canvas, "pointerdown", hideHoverLabel],
      [root, "wheel", hideHoverLabel],
      [root, "contextmenu", onContextMenu],
      [root, "keydown", onKeyDown],
    ]),
    dragCleanup,
    wheelCleanup,
    errors.cleanup,
    watchPageTheme(el.ownerDocument.body, (theme) => send({ type: "theme", theme })), // for the editor's text
    listenModel(model, [
      ["msg:custom", onCustom],
      ["change:width", resize],
      ["change:height", resize],
      ["change:background", () => drawn === 0 && paintBackground()],
      ["change:show_stats", updateOverlay],
      ["change:hover_label", showHoverLabel],
      ["change:notice", showNotice],
      ["comm_live_update", onCommLive],
      ...OVERLAY_TRAITS.map((name) => [`change:${name}`, redrawOverlays]),
    ]),
  ]);

  resize();
  updateOverlay();
  showNotice();
  showDisconnected(false);
  drawSnapshot();
  send({ type: "ready", view: viewId });

  return () => {
    disposed = true;
    send({ type: "visibility", visible: false, view: viewId }); // this view is gone
    coalescer.dispose();
    hover.dispose();
    observer.disconnect();
    resizeObserver.disconnect();
    clearTimeout(resizeTimer);
    cancelAnimationFrame(overlayPending);
    fullscreen.dispose();
    frames.dispose();
    cleanup();
  };
}

export default { render: guardedRender(render, "VolumeView", "snapshot") };
