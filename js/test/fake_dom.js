// A minimal stand-in for the browser, enough to run the views' `render` under node's test runner:
// elements that count their listeners, a canvas context that records drawImage, a model that
// records messages, a manual animation-frame queue, and a decoder whose results the test releases.
// Not a test file itself (node --test runs it and finds no tests).

/** An element: an EventTarget that counts its listeners, with the properties the views touch. */
export class FakeElement extends EventTarget {
  constructor(tag, doc) {
    super();
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.style = {};
    this.dataset = {};
    this.children = [];
    this.textContent = "";
    this.listenerCount = 0;
    this.captured = new Set();
    this.width = 300;
    this.height = 150;
    this.context = null;
  }
  addEventListener(type, handler, options) {
    this.listenerCount += 1;
    super.addEventListener(type, handler, options);
  }
  removeEventListener(type, handler, options) {
    this.listenerCount -= 1;
    super.removeEventListener(type, handler, options);
  }
  append(...nodes) { this.children.push(...nodes); }
  setAttribute(name, value) { this.attributes = { ...this.attributes, [name]: String(value) }; }
  appendChild(node) { this.children.push(node); return node; }
  replaceChildren(...nodes) { this.children = [...nodes]; }
  remove() {}
  focus() { this.ownerDocument.activeElement = this; }
  contains(node) {
    return node === this || this.children.some((child) => child instanceof FakeElement && child.contains(node));
  }
  setPointerCapture(id) { this.captured.add(id); }
  hasPointerCapture(id) { return this.captured.has(id); }
  releasePointerCapture(id) { this.captured.delete(id); }
  getBoundingClientRect() { return { left: 0, top: 0, width: this.width, height: this.height }; }
  getContext() {
    if (!this.context) {
      this.context = {
        drawn: [], // images passed to drawImage, in order
        drawImage(image) { this.drawn.push(image); },
        setTransform() {}, beginPath() {}, moveTo() {}, lineTo() {}, stroke() {}, setLineDash() {},
        fills: [], // the fillStyle of each fillRect, in order
        clearRect() {}, fillRect() { this.fills.push(this.fillStyle); }, fillText() {}, measureText: () => ({ width: 10 }),
        save() {}, restore() {}, strokeRect() {}, arc() {}, fill() {}, closePath() {},
        createLinearGradient: () => ({ addColorStop() {} }),
      };
    }
    return this.context;
  }
  /** All elements below this one (itself included) with `className`. */
  find(className) {
    const found = this.className === className ? [this] : [];
    return found.concat(...this.children.filter((c) => c instanceof FakeElement).map((c) => c.find(className)));
  }
}

export class FakeModel {
  constructor(state) {
    this.state = { ...state };
    this.handlers = new Map(); // event -> [handler]
    this.sent = [];
  }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; }
  save_changes() {}
  send(message) { this.sent.push(message); }
  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
  }
  off(event, handler) {
    const list = this.handlers.get(event) || [];
    const index = list.indexOf(handler);
    if (index >= 0) list.splice(index, 1);
  }
  trigger(event, ...args) {
    for (const handler of [...(this.handlers.get(event) || [])]) handler(...args);
  }
  /** Set traits from Python: every value first, then the change events (as Backbone does). */
  update(state) {
    Object.assign(this.state, state);
    for (const name of Object.keys(state)) this.trigger(`change:${name}`);
  }
  handlerCount() { return [...this.handlers.values()].reduce((n, list) => n + list.length, 0); }
}

/** A decoder whose results the test hands out in any order: `resolve(i)` or `reject(i)` the i-th call. */
export class ControlledDecoder {
  constructor() {
    this.calls = [];
    this.closed = [];
  }
  decode = (blob) => new Promise((resolve, reject) => {
    const image = { name: `image${this.calls.length}`, blob, close: () => this.closed.push(image.name) };
    this.calls.push({ image, resolve: () => resolve(image), reject });
  });
  resolve(i) { this.calls[i].resolve(); return settle(); }
  reject(i, error = new Error("corrupt image")) { this.calls[i].reject(error); return settle(); }
}

/** An observer class whose callbacks the test calls (`notifyAll()`) after changing what it watches. */
function triggeredObserver() {
  return class {
    static live = new Set();
    constructor(callback) { this.callback = callback; }
    observe() { this.constructor.live.add(this); }
    disconnect() { this.constructor.live.delete(this); }
    static notifyAll() { for (const observer of [...this.live]) observer.callback([]); }
  };
}

/** A MutationObserver: `FakeMutationObserver.notifyAll()` after changing the DOM. */
export const FakeMutationObserver = triggeredObserver();

/** A ResizeObserver: `FakeResizeObserver.notifyAll()` after resizing. */
export const FakeResizeObserver = triggeredObserver();

/** Let promise callbacks (decode → draw → acknowledge) run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Install the browser globals the views use; returns {document, root (the `el`), frames (run the
 * queued animation frames), restore}. `createImageBitmap` is `decoder.decode`.
 */
export function installFakeBrowser(decoder) {
  const names = ["document", "window", "requestAnimationFrame", "cancelAnimationFrame", "ResizeObserver",
    "IntersectionObserver", "MutationObserver", "createImageBitmap"];
  const saved = Object.fromEntries(names.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]));
  const doc = new EventTarget();
  doc.activeElement = null;
  doc.fullscreenElement = null;
  doc.createElement = (tag) => new FakeElement(tag, doc);
  doc.body = new FakeElement("body", doc);
  let queue = [];
  const observer = class { observe() {} disconnect() {} };
  const globals = {
    document: doc,
    window: { devicePixelRatio: 1, innerWidth: 1024, innerHeight: 768 },
    requestAnimationFrame: (fn) => queue.push(fn),
    cancelAnimationFrame: () => {},
    ResizeObserver: FakeResizeObserver,
    IntersectionObserver: observer,
    MutationObserver: FakeMutationObserver,
    createImageBitmap: decoder.decode,
  };
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  return {
    document: doc,
    el: new FakeElement("div", doc),
    frames() {
      const run = queue;
      queue = [];
      for (const fn of run) fn(0);
    },
    restore() {
      for (const name of names) {
        if (saved[name]) Object.defineProperty(globalThis, name, saved[name]);
        else delete globalThis[name];
      }
    },
  };
}
