// The generator in the page: a --format web export (serving/web_export.py) runs model.onnx with
// onnxruntime-web (ort/, loaded before this file), single-threaded WebAssembly, nothing from another
// host. The model's options are in the page (<script id="pix2pix-options">), and what the SavedModel
// does around its generator (data/tasks.py: the Lab and RGB colorizations' colour conversions,
// data/color.py) is done here the same way, with the same constants.
//
// window.pix2pix.translate(data, height, width) -> Promise of a Float32Array (height*width*3): the
// model's picture, RGB in [-1, 1], NHWC, batch 1. DATA: the photo, height*width*3 RGB in [-1, 1]
// (NHWC, batch 1), or height*width*4 RGBA bytes (a canvas's ImageData.data). HEIGHT and WIDTH must
// be multiples of options.multiple; the generator runs at that size, as the SavedModel's `tensors`.
"use strict";
(function () {
  const options = JSON.parse(document.getElementById("pix2pix-options").textContent);
  const started = performance.now();
  ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer, so no cross-origin isolation headers needed
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  const session = ort.InferenceSession.create(new URL("model.onnx", document.baseURI).href,
                                              { executionProviders: ["wasm"] });
  const lab = options.lab;

  // ------------------------------------------------------------------ data/color.py
  const srgbToLinear = (v) => (v <= 0.04045 ? v / 12.92 : Math.pow((Math.max(v, 0.04045) + 0.055) / 1.055, 2.4));
  const linearToSrgb = (v) => (v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(Math.max(v, 0.0031308), 1 / 2.4) - 0.055);
  const D = lab.delta;
  const labF = (t) => (t <= D * D * D ? t / (3 * D * D) + 4 / 29 : Math.pow(Math.max(t, D * D * D), 1 / 3));
  const labFInverse = (f) => (f <= D ? 3 * D * D * (f - 4 / 29) : f * f * f);
  const clip = (v, low, high) => Math.min(high, Math.max(low, v));

  function linearFrom(luminance, fY, a, b, out) {  // Y, f(Y), a, b -> linear RGB (unclipped) in OUT
    const x = lab.white_point[0] * labFInverse(fY + a / 500);
    const z = lab.white_point[2] * labFInverse(fY - b / 200);
    const m = lab.xyz_to_rgb;  // rows x, y, z
    for (let c = 0; c < 3; c++) out[c] = x * m[0][c] + luminance * m[1][c] + z * m[2][c];
    return out;
  }
  const inGamut = (rgb) => rgb.every((v) => v >= -lab.gamut_tolerance && v <= 1 + lab.gamut_tolerance);

  // color.colorize_keeping_luminance for one pixel: Y and ab -> sRGB in [0, 1], written to OUT at I
  function colorize(luminance, a, b, out, i) {
    const fY = labF(luminance), linear = linearFrom(luminance, fY, a, b, [0, 0, 0]);
    if (!inGamut(linear)) {
      let low = 0, high = 1;
      for (let step = 0; step < lab.gamut_bisections; step++) {
        const middle = (low + high) / 2;
        if (inGamut(linearFrom(luminance, fY, a * middle, b * middle, [0, 0, 0]))) low = middle; else high = middle;
      }
      linearFrom(luminance, fY, a * low, b * low, linear);
    }
    for (let c = 0; c < 3; c++) out[i + c] = linearToSrgb(clip(linear[c], 0, 1));
  }

  const luma = (r, g, b) => r * options.luma_weights[0] + g * options.luma_weights[1] + b * options.luma_weights[2];

  // color.add_chroma_within_gamut for one pixel
  function addChroma(lightness, chroma, out, i) {
    let scale = Infinity;
    for (const c of chroma) {
      const limit = c > 0 ? (1 - lightness) / c : c < 0 ? -lightness / c : 1;
      scale = Math.min(scale, limit);
    }
    scale = clip(scale, 0, 1);
    for (let c = 0; c < 3; c++) out[i + c] = clip(lightness + scale * chroma[c], 0, 1);
  }

  // ------------------------------------------------------------------ the generator
  async function generate(inputs, height, width, channels) {
    const model = await session;
    const feeds = { inputs: new ort.Tensor("float32", inputs, [1, height, width, channels]) };
    const result = await model.run(feeds);
    return result.outputs.data;
  }

  function photoIn01(data, height, width) {  // -> Float32Array h*w*3 in [0, 1]
    const pixels = height * width, rgb = new Float32Array(pixels * 3);
    if (data.length === pixels * 4) {  // RGBA bytes
      for (let p = 0; p < pixels; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = data[p * 4 + c] / 255;
    } else if (data.length === pixels * 3) {
      for (let i = 0; i < rgb.length; i++) rgb[i] = (data[i] + 1) / 2;
    } else {
      throw new Error(`data: ${data.length} values, not ${height}x${width}x3 (RGB in [-1, 1]) or x4 (RGBA bytes)`);
    }
    return rgb;
  }

  // data/tasks.py's translate (the task and direction of the export), at the generator's size
  async function translate(data, height, width) {
    const m = options.multiple;
    if (!(height > 0 && width > 0 && height % m === 0 && width % m === 0)) {
      throw new Error(`height and width must be positive multiples of ${m}, got ${height}x${width}`);
    }
    const rgb = photoIn01(data, height, width), pixels = height * width, picture = new Float32Array(pixels * 3);
    if (options.task === "lab") {  // AtoB: L -> ab, the photo's own luminance kept
      const luminance = new Float32Array(pixels), inputs = new Float32Array(pixels);
      for (let p = 0; p < pixels; p++) {
        const y = srgbToLinear(rgb[p * 3]) * lab.luminance_weights[0] + srgbToLinear(rgb[p * 3 + 1]) *
          lab.luminance_weights[1] + srgbToLinear(rgb[p * 3 + 2]) * lab.luminance_weights[2];
        luminance[p] = y;
        inputs[p] = (116 * labF(y) - 16) / 50 - 1;
      }
      const ab = await generate(inputs, height, width, 1);
      for (let p = 0; p < pixels; p++) {
        colorize(luminance[p], clip(ab[p * 2], -1, 1) * 110, clip(ab[p * 2 + 1], -1, 1) * 110, picture, p * 3);
      }
    } else if (options.task === "rgb" && options.which_direction === "AtoB") {  // luma -> RGB, the luma kept
      const lightness = new Float32Array(pixels);
      for (let p = 0; p < pixels; p++) lightness[p] = luma(rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]);
      const outputs = await generate(lightness.map((v) => v * 2 - 1), height, width, 1);
      for (let p = 0; p < pixels; p++) {
        const o = [0, 1, 2].map((c) => (outputs[p * 3 + c] + 1) / 2), l = luma(o[0], o[1], o[2]);
        addChroma(lightness[p], o.map((v) => v - l), picture, p * 3);
      }
    } else {  // pairs (either way), rgb BtoA: the picture is the generator's output (grey repeated)
      const outputs = await generate(rgb.map((v) => v * 2 - 1), height, width, 3);
      const channels = outputs.length / pixels;
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < 3; c++) picture[p * 3 + c] = clip((outputs[p * channels + (channels === 1 ? 0 : c)] + 1) / 2, 0, 1);
      }
    }
    return picture.map((v) => v * 2 - 1);
  }

  // A picture for the page (serving/page.html): an image of any size is drawn at the generator's
  // size (crop_size x crop_size, as the SavedModel runs it), translated, and drawn back at its own size.
  async function translateImage(image) {
    const size = options.crop_size, work = document.createElement("canvas");
    work.width = work.height = size;
    const context = work.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0, size, size);
    const picture = await translate(context.getImageData(0, 0, size, size).data, size, size);
    const pixels = context.createImageData(size, size);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) pixels.data[p * 4 + c] = Math.round((picture[p * 3 + c] + 1) / 2 * 255);
      pixels.data[p * 4 + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
    const out = document.createElement("canvas");
    out.width = image.naturalWidth || image.width;
    out.height = image.naturalHeight || image.height;
    out.getContext("2d").drawImage(work, 0, 0, out.width, out.height);
    return out.toDataURL("image/png").replace(/^data:[^,]*,/, "");
  }

  const ready = session.then(() => { window.pix2pix.loadSeconds = (performance.now() - started) / 1000; });
  window.pix2pix = { options, ready, translate, translateImage, backend: "wasm", loadSeconds: null };
})();
