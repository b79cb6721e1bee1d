// VolumeView's fullscreen button: the Fullscreen API on the view's container; while fullscreen
// the kernel renders frames at the screen's size (a resize message), on exit the view's previous
// size comes back.

const MAX_SIDE = 4096; // as Python's messages.MAX_SIDE: it clamps anyway

/** The frame size to ask for while fullscreen: the viewport's, which is then the screen's. */
export function fullscreenSize(win) {
  const clamp = (side) => Math.max(16, Math.min(MAX_SIDE, Math.round(side)));
  return { width: clamp(win.innerWidth), height: clamp(win.innerHeight) };
}

/**
 * Add the button to `root`; `send` posts a message to Python. Returns {isActive, onChange, dispose}:
 * onChange is the fullscreenchange handler (tests may call it where the browser refuses fullscreen).
 */
export function attachFullscreen(root, model, send, doc = document) {
  const button = document.createElement("button");
  button.className = "pyvr-fullscreen";
  button.type = "button";
  button.title = "fullscreen (Esc leaves)";
  // Four corner brackets, drawn (a glyph such as ⛶ is missing from many fonts).
  button.innerHTML = '<svg width="14" height="14" viewBox="0 0 14 14" fill="none" stroke="currentColor" ' +
    'stroke-width="2"><path d="M1 5V1h4M9 1h4v4M13 9v4H9M5 13H1V9"/></svg>';
  button.style.cssText =
    "position:absolute;top:4px;right:4px;width:22px;height:22px;padding:0;border:1px solid rgba(255,255,255,.5);" +
    "border-radius:3px;background:rgba(0,0,0,.45);color:#fff;line-height:0;cursor:pointer;opacity:.6;";
  root.appendChild(button);
  let before = null; // the view's size before fullscreen

  function isActive() {
    return before !== null;
  }
  function onChange(full = doc.fullscreenElement === root) {
    if (full && before === null) {
      before = { width: model.get("width"), height: model.get("height") };
      root.style.background = "#000";
      send({ type: "resize", ...fullscreenSize(window) });
    } else if (!full && before !== null) {
      send({ type: "resize", ...before });
      before = null;
      root.style.background = "";
    }
    root.dataset.fullscreen = full ? "true" : "false";
  }
  function onClick(event) {
    event.stopPropagation();
    if (doc.fullscreenElement === root) {
      doc.exitFullscreen();
    } else if (root.requestFullscreen) {
      root.requestFullscreen().catch((err) => {
        root.dataset.fullscreenError = String(err && err.message ? err.message : err);
      });
    }
  }
  const handler = () => onChange();
  const stop = (event) => event.stopPropagation(); // no orbit from a click on the button
  button.addEventListener("click", onClick);
  button.addEventListener("pointerdown", stop);
  button.addEventListener("dblclick", stop);
  button.addEventListener("mouseenter", () => { button.style.opacity = "1"; });
  button.addEventListener("mouseleave", () => { button.style.opacity = ".6"; });
  doc.addEventListener("fullscreenchange", handler);
  return {
    button,
    isActive,
    onChange,
    dispose() {
      doc.removeEventListener("fullscreenchange", handler);
      button.removeEventListener("click", onClick);
      button.remove();
    },
  };
}
