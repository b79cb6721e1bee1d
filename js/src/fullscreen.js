// VolumeView's fullscreen button: the Fullscreen API on the view's container; while fullscreen
// the kernel renders frames at the screen's size (a resize message), on exit the view's previous
// size comes back.

const MAX_SIDE = 4096; // as Python's messages.MAX_SIDE: it clamps anyway

/** The frame size to ask for while fullscreen: the element's size then (else the screen's). */
export function fullscreenSize(element, screen) {
  const width = Math.round(element.clientWidth || screen.width);
  const height = Math.round(element.clientHeight || screen.height);
  return { width: Math.max(16, Math.min(MAX_SIDE, width)), height: Math.max(16, Math.min(MAX_SIDE, height)) };
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
  button.textContent = "⛶";
  button.style.cssText =
    "position:absolute;top:4px;right:4px;width:22px;height:22px;padding:0;border:1px solid rgba(255,255,255,.5);" +
    "border-radius:3px;background:rgba(0,0,0,.45);color:#fff;font:14px/20px sans-serif;cursor:pointer;opacity:.6;";
  root.appendChild(button);
  let before = null; // the view's size before fullscreen

  function isActive() {
    return before !== null;
  }
  function onChange(full = doc.fullscreenElement === root) {
    if (full && before === null) {
      before = { width: model.get("width"), height: model.get("height") };
      root.style.background = "#000";
      send({ type: "resize", ...fullscreenSize(root, window.screen) });
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
