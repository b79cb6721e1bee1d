// DOM helpers shared by the widgets' views (widget.js: VolumeView, slice_view.js: SliceView):
// listeners removed by one cleanup (anywidget's convention: `render` returns it), drags with
// pointer capture, a wheel that acts only while the view has focus, the error box, and drawing
// only the newest of several images decoded concurrently.
// Nothing here knows a widget's traits or messages; node's test runner tests it on fakes.

/**
 * @typedef {[EventTarget, string, (event: Event) => void, (AddEventListenerOptions | boolean)?]} Listener
 *   target, event type, handler and options, as given to `addEventListener`.
 * @typedef {{on: Function, off: Function, get: (name: string) => any}} Model  the anywidget model
 * @typedef {"drawn" | "skipped" | "failed" | "disposed"} Outcome  what became of a pushed image
 */

/**
 * Add DOM event listeners; returns one function that removes exactly those (with the same options,
 * so `capture` listeners go too). Calling it twice is harmless.
 * @param {Listener[]} listeners
 * @returns {() => void}
 */
export function listen(listeners) {
  const added = listeners.map((entry) => [...entry]);
  for (const [target, type, handler, options] of added) target.addEventListener(type, handler, options);
  return () => {
    for (const [target, type, handler, options] of added.splice(0)) target.removeEventListener(type, handler, options);
  };
}

/**
 * Subscribe to model events (`"change:error"`, `"msg:custom"`, ...); returns one function that
 * unsubscribes them all. Calling it twice is harmless.
 * @param {Model} model
 * @param {[string, Function][]} events  event name and handler
 * @returns {() => void}
 */
export function listenModel(model, events) {
  const added = events.map((entry) => [...entry]);
  for (const [event, handler] of added) model.on(event, handler);
  return () => {
    for (const [event, handler] of added.splice(0)) model.off(event, handler);
  };
}

/**
 * One cleanup from several: runs each once, the last added first, every one even if another
 * throws (the first error is rethrown at the end).
 * @param {(() => void)[]} cleanups
 * @returns {() => void}
 */
export function combineCleanups(cleanups) {
  const pending = [...cleanups];
  return () => {
    let failure = null;
    for (const cleanup of pending.splice(0).reverse()) {
      try {
        cleanup();
      } catch (err) {
        failure = failure || err;
      }
    }
    if (failure) throw failure;
  };
}

/**
 * @typedef DragHandlers
 * @property {Element} [focus]  focused (without scrolling) when a drag starts, so keys and the
 *   wheel go to the view afterwards
 * @property {(event: PointerEvent) => (boolean | void)} [start]  a button went down on the
 *   element; return false to ignore this press
 * @property {(event: PointerEvent, dx: number, dy: number) => void} [move]  the pointer moved
 *   during the drag: by (dx, dy) CSS pixels since the last call
 * @property {(event: PointerEvent) => void} [end]  the button went up or the browser cancelled the drag
 */

/**
 * Drags on `element` with pointer capture: once a button is down, moves and the release reach
 * the element even outside it (or the browser window), so a drag never sticks. A new press
 * while dragging restarts the drag from there (a second finger, as before).
 * @param {Element} element
 * @param {DragHandlers} handlers
 * @returns {() => void} cleanup
 */
export function pointerDrag(element, { focus, start, move, end } = {}) {
  let drag = null; // {x, y} of the last pointer event while a button is down
  function onDown(event) {
    if (focus) focus.focus({ preventScroll: true });
    if (start && start(event) === false) return;
    drag = { x: event.clientX, y: event.clientY };
    try {
      element.setPointerCapture(event.pointerId);
    } catch (err) {
      // No active pointer with that id (a synthetic event): the drag works without capture.
    }
    event.preventDefault();
  }
  function onMove(event) {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (move) move(event, dx, dy);
  }
  function onUp(event) {
    if (!drag) return;
    drag = null;
    if (element.hasPointerCapture(event.pointerId)) element.releasePointerCapture(event.pointerId);
    if (end) end(event);
  }
  return listen([
    [element, "pointerdown", onDown],
    [element, "pointermove", onMove],
    [element, "pointerup", onUp],
    [element, "pointercancel", onUp],
  ]);
}

/**
 * The page's theme, "light" or "dark", as the front end says it: JupyterLab and Notebook 7 on
 * `<body data-jp-theme-light>`, VS Code by a `vscode-light` / `vscode-dark` class on `<body>`;
 * elsewhere (Colab, a plain page) "" (unknown). Canvases drawn in Python (the transfer-function
 * editor) pick their text colour from it.
 * @param {HTMLElement} body
 * @returns {"light" | "dark" | ""}
 */
export function pageTheme(body) {
  const lab = body.dataset ? body.dataset.jpThemeLight : undefined;
  if (lab === "true" || lab === "false") return lab === "true" ? "light" : "dark";
  const classes = body.classList;
  if (classes && (classes.contains("vscode-dark") || classes.contains("vscode-high-contrast"))) return "dark";
  if (classes && (classes.contains("vscode-light") || classes.contains("vscode-high-contrast-light"))) return "light";
  return "";
}

/**
 * Call `report(theme)` with `pageTheme` now and whenever it changes (the user switches themes).
 * @param {HTMLElement} body
 * @param {(theme: "light" | "dark" | "") => void} report
 * @returns {() => void} cleanup
 */
export function watchPageTheme(body, report) {
  let last = null;
  const check = () => {
    const theme = pageTheme(body);
    if (theme !== last) report((last = theme));
  };
  const observer = new MutationObserver(check);
  observer.observe(body, { attributes: true, attributeFilter: ["data-jp-theme-light", "class"] });
  check();
  return () => observer.disconnect();
}

/**
 * The size `element` is laid out at, or null while it is not shown: in a notebook tab behind
 * another, an output the user collapsed, or any `display: none` / `content-visibility: hidden`
 * ancestor, the browser reports 0 × 0 (a view that took that for a resize came back 16 px wide).
 * @param {HTMLElement} element
 * @returns {{width: number, height: number} | null}
 */
export function shownSize(element) {
  if (typeof element.checkVisibility === "function" && !element.checkVisibility()) return null;
  const width = Math.round(element.clientWidth);
  const height = Math.round(element.clientHeight);
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * A wheel handler that acts only while the focus is in `element` (a click or Tab gives it, to it
 * or to a control inside it, such as a slice's slider): until then the wheel scrolls the page as
 * usual instead of being taken by the view.
 * @param {HTMLElement} element
 * @param {(event: WheelEvent) => void} onWheel  called with the page's scrolling prevented
 * @returns {() => void} cleanup
 */
export function focusedWheel(element, onWheel) {
  const handler = (event) => {
    const focused = element.ownerDocument.activeElement;
    if (!focused || !element.contains(focused)) return;
    event.preventDefault();
    onWheel(event);
  };
  return listen([[element, "wheel", handler, { passive: false }]]); // passive: false, or no preventDefault
}

export const ERROR_BOX_STYLE = "color:#fff;background:rgba(160,0,0,.85);white-space:pre-wrap;";

/**
 * @typedef ErrorBox
 * @property {HTMLDivElement} element  to place in the view (hidden while there is nothing to say)
 * @property {(message: string) => void} report  a problem found in the browser (an image that
 *   does not decode), shown below the model's error; '' clears it
 * @property {() => void} update  show the model's `error` again (done on `change:error`)
 * @property {() => void} cleanup
 */

/**
 * A box that shows the model's `error` trait, `prefix` before it, and hides while it is ''; the
 * view may add a message of its own with `report`.
 * @param {Model} model
 * @param {{prefix: string, className?: string, style?: string, doc?: Document}} options
 * @returns {ErrorBox}
 */
export function errorBox(model, { prefix, className = "pyvr-error", style = ERROR_BOX_STYLE, doc = document }) {
  const element = doc.createElement("div");
  element.className = className;
  element.style.cssText = style;
  let local = "";
  function update() {
    const error = model.get("error");
    const lines = [error ? `${prefix}${error}` : "", local].filter(Boolean);
    element.textContent = lines.join("\n");
    element.style.display = lines.length ? "block" : "none";
  }
  function report(message) {
    if (message === local) return;
    local = message;
    update();
  }
  const cleanup = listenModel(model, [["change:error", update]]);
  update();
  return { element, report, update, cleanup };
}

/** The message of an error or rejection value of any kind. */
export function errorMessage(err) {
  return String(err && err.message ? err.message : err);
}

/**
 * Decode an image file (PNG, JPEG) into something `drawImage` takes. Bytes (`{bytes, type}`, as
 * a widget message brings them) go to WebCodecs' `ImageDecoder` where the browser has one (a
 * VideoFrame): a Blob's bytes travel through the browser's own process before
 * `createImageBitmap` decodes them, which on a busy 2-core machine held a 60 KB PNG for ~8 ms
 * where decoding it takes 1–2. Elsewhere, or when `ImageDecoder` fails, the bytes become a Blob
 * for `createImageBitmap`, or where that is missing an `<img>` loaded from an object URL
 * (revoked once loaded or failed). `env` is looked up at each call (tests and shims replace it).
 * @param {Blob | {bytes: BufferSource, type: string}} source
 * @param {typeof globalThis} [env]
 * @returns {Promise<ImageBitmap | HTMLImageElement | VideoFrame>}
 */
export async function decodeImage(source, env = globalThis) {
  let blob = source;
  if (source && typeof source.bytes === "object") { // (a Blob has a bytes() method)
    if (typeof env.ImageDecoder === "function") {
      try {
        const decoder = new env.ImageDecoder({ data: source.bytes, type: source.type });
        try {
          return (await decoder.decode()).image;
        } finally {
          decoder.close();
        }
      } catch (ignored) {
        // An image type or build the decoder does not take: the Blob path below.
      }
    }
    blob = new (env.Blob || Blob)([source.bytes], { type: source.type });
  }
  if (typeof env.createImageBitmap === "function") return env.createImageBitmap(blob);
  const url = env.URL.createObjectURL(blob);
  try {
    const image = new env.Image();
    await new Promise((resolve, reject) => {
      image.onload = resolve;
      image.onerror = () => reject(new Error("the image could not be decoded"));
      image.src = url;
    });
    return image;
  } finally {
    env.URL.revokeObjectURL(url);
  }
}

/** Free a decoded image: ImageBitmaps and VideoFrames hold memory until closed (an `<img>` needs nothing). */
export function releaseImage(image) {
  if (image && typeof image.close === "function") image.close();
}

/**
 * Draws only the newest of images decoded concurrently. Each pushed image gets a sequence number
 * (given, e.g. a frame id, or counted); decoding takes varying time, so an older image can finish
 * after a newer one: it is drawn only if nothing newer has been drawn, otherwise skipped. Decode
 * errors are caught and handed to `onError`; every decoded image is released (closed) once drawn
 * or skipped, or with `keep`, once a newer image replaces it as `current`.
 */
export class NewestImage {
  /**
   * @param {object} options
   * @param {(image: ImageBitmap | HTMLImageElement, meta: object) => void} options.draw  draw an
   *   image newer than any drawn so far; `meta` is what `push` was given with it
   * @param {(error: Error, meta: object) => void} [options.onError]  an image failed to decode (or
   *   `draw` threw)
   * @param {boolean} [options.keep]  keep the newest drawn image as `current` (to draw it again,
   *   e.g. under a moved cross-hair) instead of releasing it after `draw`
   * @param {(source: Blob | {bytes: BufferSource, type: string}) => Promise<ImageBitmap | HTMLImageElement | VideoFrame>}
   *   [options.decode]
   */
  constructor({ draw, onError = () => {}, keep = false, decode = decodeImage }) {
    this.draw = draw;
    this.onError = onError;
    this.keep = keep;
    this.decode = decode;
    this.counted = 0; // the highest sequence number pushed
    this.newestDrawn = -Infinity; // sequence number of the image drawn last
    this.disposed = false;
    /** @type {{image: ImageBitmap | HTMLImageElement | VideoFrame, meta: object, seq: number} | null} */
    this.current = null;
  }

  /**
   * Decode `source` (a Blob, or `{bytes, type}`: `decodeImage`) and draw it unless a newer image
   * was drawn meanwhile. Never rejects.
   * @param {Blob | {bytes: BufferSource, type: string}} source
   * @param {object} [meta]  passed to `draw` and `onError` (e.g. the geometry the image belongs to)
   * @param {number} [seq]  its sequence number (increasing with newness); default: one more than
   *   the highest so far
   * @returns {Promise<Outcome>}
   */
  async push(source, meta = {}, seq = undefined) {
    const number = seq === undefined ? this.counted + 1 : seq;
    this.counted = Math.max(this.counted, number);
    let image;
    try {
      image = await this.decode(source);
    } catch (err) {
      if (this.disposed) return "disposed";
      this.report(err, meta);
      return "failed";
    }
    if (this.disposed) {
      releaseImage(image);
      return "disposed";
    }
    if (number <= this.newestDrawn) {
      releaseImage(image);
      return "skipped";
    }
    this.newestDrawn = number;
    if (this.keep) {
      if (this.current) releaseImage(this.current.image);
      this.current = { image, meta, seq: number };
    }
    try {
      this.draw(image, meta);
    } catch (err) {
      this.report(err, meta);
      return "failed";
    } finally {
      if (!this.keep) releaseImage(image);
    }
    return "drawn";
  }

  /** @private */
  report(err, meta) {
    try {
      this.onError(err instanceof Error ? err : new Error(errorMessage(err)), meta);
    } catch (ignored) {
      // A broken error handler must not break drawing.
    }
  }

  /** Release the kept image; images still decoding are released when they finish, undrawn. */
  dispose() {
    this.disposed = true;
    if (this.current) releaseImage(this.current.image);
    this.current = null;
  }
}

/**
 * `render` that cannot leave an empty output: when it throws (a browser without an API the view
 * needs), the element says what failed and what to do, over the last picture the kernel saved
 * (`still`, a trait holding a PNG) when there is one.
 * @param {(args: {model: any, el: HTMLElement}) => (() => void)} render
 * @param {string} name  the widget's name, as the user wrote it
 * @param {string} [still]  the trait with a saved PNG
 */
export function guardedRender(render, name, still) {
  return (args) => {
    try {
      return render(args);
    } catch (err) {
      const { model, el } = args;
      const doc = el.ownerDocument || document;
      const box = doc.createElement("div");
      box.className = "pyvr-failed";
      box.style.cssText = "font:13px sans-serif;line-height:1.4;color:#fff;background:rgba(160,0,0,.9);" +
        "padding:6px 8px;white-space:pre-wrap;max-width:640px;";
      box.textContent = `${name} could not start in this browser: ${errorMessage(err)}\n` +
        "The picture below (if any) is the last one the kernel saved. Try an up-to-date Chrome, Firefox " +
        "or Safari; the page's console has the details.";
      const parts = [box];
      let url = null;
      const png = still ? model.get(still) : null;
      if (png && png.byteLength && typeof URL !== "undefined" && URL.createObjectURL) {
        const image = doc.createElement("img");
        url = URL.createObjectURL(new Blob([png], { type: "image/png" }));
        image.src = url;
        image.style.display = "block";
        parts.push(image);
      }
      el.replaceChildren(...parts);
      return () => {
        if (url) URL.revokeObjectURL(url);
        for (const part of parts) part.remove();
      };
    }
  };
}

/**
 * When `model` is closed from Python, hide the notebook output that showed `el` once nothing is
 * left in it (a closed widget leaves an empty output area with its prompt: JupyterLab, Notebook 7
 * and Voila use `.jp-OutputArea-child`). Outputs that still hold something (a box whose other
 * widgets are open, text) stay; one being emptied (a box closing its widgets one by one) is
 * looked at again every `delayMs`, `tries` times. Returns the listener's cleanup.
 * @param {any} model
 * @param {HTMLElement} el
 * @param {number} [delayMs]  time for the front end to remove the closed views
 * @param {number} [tries]
 */
export function hideOutputWhenClosed(model, el, delayMs = 300, tries = 20) {
  function onDestroy() {
    const child = el.closest ? el.closest(".jp-OutputArea-child") : null;
    if (!child) return;
    let left = tries;
    (function check() { // a box closes its widgets one by one: look again for a while
      const output = child.querySelector(".jp-OutputArea-output");
      const empty = !output || (!output.querySelector("canvas, img, input, select, button, svg, video") &&
        !output.textContent.trim());
      if (empty) {
        child.style.display = "none";
        child.dataset.pyvrClosed = "true";
      } else if (--left > 0) {
        setTimeout(check, delayMs);
      }
    })();
  }
  return listenModel(model, [["destroy", onDestroy]]);
}
