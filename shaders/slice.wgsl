// One view's slice, composed from up to 8 layers in one pass (src/app/gpu.rs).
//
// Each layer is an R32Float 3D texture read with textureLoad (raw values, e.g. HU), so
// window/level and colour maps act on the true values and no filterable float format is
// needed (the OpenGL fallback has none). The vertex stage covers the paint callback's
// rectangle (the visible part of the slice); the fragment stage maps its slice pixel
// position to each layer's continuous voxel index by that layer's own affine (so layers on
// different grids and orientations line up in world space), samples (nearest or
// trilinear, clamped within half a voxel of the edge, nothing outside), windows, colours
// and composes.
//
// The colours equal the CPU reference of src/app/fusion.rs and src/app/viewer.rs; the
// test gpu_slice_matches_cpu_reference compares them pixel by pixel.

const MAX_LAYERS: u32 = 8u;

struct LayerParams {
    // Continuous voxel index (i, j, k) at slice pixel (0, 0), and its step per pixel
    // along the slice's x and y.
    origin: vec4<f32>,
    du: vec4<f32>,
    dv: vec4<f32>,
    // Voxel counts along i, j, k.
    size: vec4<f32>,
    // Window lower edge, window width, opacity (the bottom layer's is 1), colour map
    // (0 grey, 1 hot, 2 viridis, 3 jet).
    style: vec4<f32>,
};

struct ViewParams {
    // Slice pixel coordinates (pixel centres at integers) of the callback rectangle:
    // pixel = xy + uv * zw, with uv 0..1 across the rectangle (the visible part of the
    // slice when zoomed or panned).
    pixel_map: vec4<f32>,
    // Number of layers, linear interpolation (1) or nearest (0), sRGB target (1), mode:
    // 0 alpha over all layers, 1 checkerboard, 2 yellow fusion, 3 difference,
    // 4 magenta/green, 5 first layer alone (flicker).
    flags: vec4<f32>,
    // Checkerboard tile in slice pixels, unused x3.
    extra: vec4<f32>,
    layers: array<LayerParams, 8>,
};

@group(0) @binding(0) var<uniform> view: ViewParams;
@group(0) @binding(1) var vol0: texture_3d<f32>;
@group(0) @binding(2) var vol1: texture_3d<f32>;
@group(0) @binding(3) var vol2: texture_3d<f32>;
@group(0) @binding(4) var vol3: texture_3d<f32>;
@group(0) @binding(5) var vol4: texture_3d<f32>;
@group(0) @binding(6) var vol5: texture_3d<f32>;
@group(0) @binding(7) var vol6: texture_3d<f32>;
@group(0) @binding(8) var vol7: texture_3d<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    // 0..1 across the callback rectangle, y down.
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // Two triangles covering the viewport (the callback's rectangle).
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let uv = corners[index];
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn load(slot: u32, p: vec3<i32>) -> f32 {
    switch slot {
        case 0u: { return textureLoad(vol0, p, 0).r; }
        case 1u: { return textureLoad(vol1, p, 0).r; }
        case 2u: { return textureLoad(vol2, p, 0).r; }
        case 3u: { return textureLoad(vol3, p, 0).r; }
        case 4u: { return textureLoad(vol4, p, 0).r; }
        case 5u: { return textureLoad(vol5, p, 0).r; }
        case 6u: { return textureLoad(vol6, p, 0).r; }
        default: { return textureLoad(vol7, p, 0).r; }
    }
}

// Voxels without a value (NaN on the CPU: e.g. parameter maps outside the bone) are
// uploaded as this sentinel; anything sampled below it counts as no value.
const NO_VALUE: f32 = -1.0e37;

// The value of layer `slot` at continuous index `x`; y = 0 outside the volume or where a
// voxel used has no value.
fn checked(v: f32) -> vec2<f32> {
    if (v < NO_VALUE) {
        return vec2<f32>(0.0, 0.0);
    }
    return vec2<f32>(v, 1.0);
}

fn sample_layer(slot: u32, x: vec3<f32>) -> vec2<f32> {
    let n = view.layers[slot].size.xyz;
    if (any(x < vec3<f32>(-0.5)) || any(x >= n - vec3<f32>(0.5))) {
        return vec2<f32>(0.0, 0.0);
    }
    let last = vec3<i32>(n) - vec3<i32>(1);
    if (view.flags.y < 0.5) {
        let r = clamp(vec3<i32>(floor(x + vec3<f32>(0.5))), vec3<i32>(0), last);
        return checked(load(slot, r));
    }
    let c = clamp(x, vec3<f32>(0.0), vec3<f32>(last));
    let f0 = floor(c);
    let t = c - f0;
    let a = vec3<i32>(f0);
    let b = min(a + vec3<i32>(1), last);
    let c000 = load(slot, vec3<i32>(a.x, a.y, a.z));
    let c100 = load(slot, vec3<i32>(b.x, a.y, a.z));
    let c010 = load(slot, vec3<i32>(a.x, b.y, a.z));
    let c110 = load(slot, vec3<i32>(b.x, b.y, a.z));
    let c001 = load(slot, vec3<i32>(a.x, a.y, b.z));
    let c101 = load(slot, vec3<i32>(b.x, a.y, b.z));
    let c011 = load(slot, vec3<i32>(a.x, b.y, b.z));
    let c111 = load(slot, vec3<i32>(b.x, b.y, b.z));
    let y0 = mix(mix(c000, c100, t.x), mix(c010, c110, t.x), t.y);
    let y1 = mix(mix(c001, c101, t.x), mix(c011, c111, t.x), t.y);
    return checked(mix(y0, y1, t.z));
}

fn viridis(t: f32) -> vec3<f32> {
    var anchors = array<vec3<f32>, 10>(
        vec3<f32>(68.0, 1.0, 84.0), vec3<f32>(72.0, 40.0, 120.0),
        vec3<f32>(62.0, 74.0, 137.0), vec3<f32>(49.0, 104.0, 142.0),
        vec3<f32>(38.0, 130.0, 142.0), vec3<f32>(31.0, 158.0, 137.0),
        vec3<f32>(53.0, 183.0, 121.0), vec3<f32>(109.0, 205.0, 89.0),
        vec3<f32>(180.0, 222.0, 44.0), vec3<f32>(253.0, 231.0, 37.0),
    );
    let x = clamp(t, 0.0, 1.0) * 9.0;
    let i = min(u32(floor(x)), 8u);
    let f = x - f32(i);
    return mix(anchors[i], anchors[i + 1u], f) / 255.0;
}

fn colour(cmap: f32, t: f32) -> vec3<f32> {
    if (cmap > 2.5) {
        let c = vec3<f32>(3.0, 2.0, 1.0);
        return clamp(vec3<f32>(1.5) - abs(vec3<f32>(4.0 * t) - c), vec3<f32>(0.0), vec3<f32>(1.0));
    }
    if (cmap > 1.5) {
        return viridis(t);
    }
    if (cmap > 0.5) {
        return vec3<f32>(
            min(t * 3.0, 1.0),
            clamp(t * 3.0 - 1.0, 0.0, 1.0),
            clamp(t * 3.0 - 2.0, 0.0, 1.0),
        );
    }
    return vec3<f32>(t);
}

// Windowed value in [0, 1] and whether the point is inside the layer.
fn windowed(slot: u32, pixel: vec2<f32>) -> vec2<f32> {
    let l = view.layers[slot];
    let x = l.origin.xyz + l.du.xyz * pixel.x + l.dv.xyz * pixel.y;
    let s = sample_layer(slot, x);
    let t = clamp((s.x - l.style.x) / max(l.style.y, 1e-6), 0.0, 1.0);
    return vec2<f32>(t, s.y);
}

fn to_target(rgb: vec3<f32>) -> vec4<f32> {
    if (view.flags.z > 0.5) {
        // The target stores linear values: undo the sRGB curve the hardware applies.
        let lo = rgb / 12.92;
        let hi = pow((rgb + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
        return vec4<f32>(select(hi, lo, rgb <= vec3<f32>(0.04045)), 1.0);
    }
    return vec4<f32>(rgb, 1.0);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let pixel = view.pixel_map.xy + in.uv * view.pixel_map.zw;
    let mode = u32(view.flags.w + 0.5);
    let count = min(u32(view.flags.x + 0.5), MAX_LAYERS);
    if (mode == 0u || mode == 5u) {
        var rgb = vec3<f32>(0.0);
        let last = select(count, min(count, 1u), mode == 5u);
        for (var slot = 0u; slot < last; slot = slot + 1u) {
            let w = windowed(slot, pixel);
            if (w.y > 0.5) {
                rgb = mix(rgb, colour(view.layers[slot].style.w, w.x), view.layers[slot].style.z);
            }
        }
        return to_target(rgb);
    }
    // Two-layer modes: slot 0 is a (the CT in the yellow fusion), slot 1 is b.
    let a = windowed(0u, pixel);
    let b = windowed(1u, pixel);
    let x = a.x * a.y;
    let y = b.x * b.y;
    var rgb = vec3<f32>(0.0);
    if (mode == 1u) {
        let tile = max(view.extra.x, 1.0);
        let cell = vec2<i32>(floor(floor(pixel + vec2<f32>(0.5)) / tile));
        rgb = vec3<f32>(select(y, x, ((cell.x + cell.y) & 1) == 0));
    } else if (mode == 2u) {
        let bone = clamp((x - 0.5) * 2.0, 0.0, 1.0);
        rgb = mix(vec3<f32>(y), vec3<f32>(1.0, 230.0 / 255.0, 0.0), bone);
    } else if (mode == 3u) {
        rgb = vec3<f32>(abs(x - y));
    } else {
        rgb = vec3<f32>(x, y, x);
    }
    return to_target(rgb);
}
