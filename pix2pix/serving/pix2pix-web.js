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

  // Bilinear (half-pixel centres) from h x w to H x W, C values a pixel: the generator's output brought to
  // the photo's size (the SavedModel enlarges with bicubic interpolation: close, not the same).
  function resize(values, h, w, C, H, W) {
    if (h === H && w === W) return values;
    const out = new Float32Array(H * W * C);
    const source = (i, n, N) => Math.min(Math.max((i + 0.5) * n / N - 0.5, 0), n - 1);
    for (let y = 0; y < H; y++) {
      const sy = source(y, h, H), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
      for (let x = 0; x < W; x++) {
        const sx = source(x, w, W), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
        for (let c = 0; c < C; c++) {
          out[(y * W + x) * C + c] = (1 - fy) * ((1 - fx) * values[(y0 * w + x0) * C + c] + fx * values[(y0 * w + x1) * C + c]) +
            fy * ((1 - fx) * values[(y1 * w + x0) * C + c] + fx * values[(y1 * w + x1) * C + c]);
        }
      }
    }
    return out;
  }

  const luminanceOf = (rgb, p) => srgbToLinear(rgb[p * 3]) * lab.luminance_weights[0] +
    srgbToLinear(rgb[p * 3 + 1]) * lab.luminance_weights[1] + srgbToLinear(rgb[p * 3 + 2]) * lab.luminance_weights[2];

  // data/tasks.py's translate (the task and direction of the export): the generator sees WORK (h x w RGB in
  // [0, 1]); the picture is made at the photo's size H x W from PHOTO, whose own luminance (Lab) or luma
  // (RGB colorization) it keeps, with the generator's output enlarged onto it. RGB in [0, 1], H*W*3.
  async function picture(photo, H, W, work, h, w) {
    const pixels = H * W, small = h * w, out = new Float32Array(pixels * 3);
    if (options.task === "lab") {  // AtoB: L -> ab, the photo's own luminance kept
      const inputs = new Float32Array(small);
      for (let p = 0; p < small; p++) inputs[p] = (116 * labF(luminanceOf(work, p)) - 16) / 50 - 1;
      const ab = resize(await generate(inputs, h, w, 1), h, w, 2, H, W);  // enlarged, then clipped
      for (let p = 0; p < pixels; p++) colorize(luminanceOf(photo, p), clip(ab[p * 2], -1, 1) * 110,
                                                clip(ab[p * 2 + 1], -1, 1) * 110, out, p * 3);
    } else if (options.task === "rgb" && options.which_direction === "AtoB") {  // luma -> RGB, the luma kept
      const inputs = new Float32Array(small), chroma = new Float32Array(small * 3);
      for (let p = 0; p < small; p++) inputs[p] = luma(work[p * 3], work[p * 3 + 1], work[p * 3 + 2]) * 2 - 1;
      const outputs = await generate(inputs, h, w, 1);
      for (let p = 0; p < small; p++) {
        const o = [0, 1, 2].map((c) => (outputs[p * 3 + c] + 1) / 2), l = luma(o[0], o[1], o[2]);
        for (let c = 0; c < 3; c++) chroma[p * 3 + c] = o[c] - l;
      }
      const enlarged = resize(chroma, h, w, 3, H, W);
      for (let p = 0; p < pixels; p++) {
        addChroma(luma(photo[p * 3], photo[p * 3 + 1], photo[p * 3 + 2]), enlarged.subarray(p * 3, p * 3 + 3), out, p * 3);
      }
    } else {  // pairs (either way), rgb BtoA: the picture is the generator's output (grey repeated)
      const outputs = await generate(work.map((v) => v * 2 - 1), h, w, options.input_channels);
      const channels = outputs.length / small, grey = new Float32Array(small * 3);
      for (let p = 0; p < small; p++) {
        for (let c = 0; c < 3; c++) grey[p * 3 + c] = (outputs[p * channels + (channels === 1 ? 0 : c)] + 1) / 2;
      }
      const enlarged = resize(grey, h, w, 3, H, W);
      for (let i = 0; i < out.length; i++) out[i] = clip(enlarged[i], 0, 1);
    }
    return out;
  }

  // window.pix2pix.translate: at the generator's size, so exactly what the SavedModel makes of DATA
  async function translate(data, height, width) {
    const m = options.multiple;
    if (!(height > 0 && width > 0 && height % m === 0 && width % m === 0)) {
      throw new Error(`height and width must be positive multiples of ${m}, got ${height}x${width}`);
    }
    const rgb = photoIn01(data, height, width);
    return (await picture(rgb, height, width, rgb, height, width)).map((v) => v * 2 - 1);
  }

  const pixelsOf = (canvas) => photoIn01(canvas.getContext("2d", { willReadFrequently: true })
    .getImageData(0, 0, canvas.width, canvas.height).data, canvas.height, canvas.width);

  function drawn(image, width, height) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d", { willReadFrequently: true }).drawImage(image, 0, 0, width, height);
    return canvas;
  }

  // A picture for the page (serving/page.html): the generator sees the image drawn at crop_size x crop_size
  // (the SavedModel's default, --preprocess resize_and_crop), the picture comes back at the image's own size
  // (at most MAX_SIDE a side) with its own full-resolution lightness for the colorizations; base64 PNG.
  const MAX_SIDE = 4096;
  async function translateImage(image) {
    const size = options.crop_size;
    let W = image.naturalWidth || image.width, H = image.naturalHeight || image.height;
    const scale = Math.min(1, MAX_SIDE / Math.max(W, H));
    W = Math.max(1, Math.round(W * scale));
    H = Math.max(1, Math.round(H * scale));
    const full = drawn(image, W, H);
    const result = await picture(pixelsOf(full), H, W, pixelsOf(drawn(image, size, size)), size, size);
    const context = full.getContext("2d"), pixels = context.createImageData(W, H);
    for (let p = 0; p < W * H; p++) {
      for (let c = 0; c < 3; c++) pixels.data[p * 4 + c] = Math.round(result[p * 3 + c] * 255);
      pixels.data[p * 4 + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
    return full.toDataURL("image/png").replace(/^data:[^,]*,/, "");
  }

  const ready = session.then(() => { window.pix2pix.loadSeconds = (performance.now() - started) / 1000; });
  window.pix2pix = { options, ready, translate, translateImage, backend: "wasm", loadSeconds: null };
})();
