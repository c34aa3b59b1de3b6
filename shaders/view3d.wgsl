// The 3D view (src/app/view3d/render.rs).
//
// Pass 1 (offscreen, own colour + depth texture): bone surfaces, landmark spheres and the
// crosshair planes' outlines with per-vertex colours, Lambert (headlight) + ambient
// shading; lines carry a zero normal and are drawn unlit. Colours are sRGB-encoded
// values throughout (as egui's vertex colours); lighting is applied in linear light.
//
// Pass 2 (egui's render pass): a fullscreen triangle over the paint callback's viewport
// copies the offscreen image, texel for pixel.

struct Scene {
    view_proj: mat4x4<f32>,
    // World direction towards the light (xyz) and the ambient share (w).
    light: vec4<f32>,
    // Unused for now.
    extra: vec4<f32>,
};

@group(0) @binding(0) var<uniform> scene: Scene;

struct MeshIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) colour: vec4<f32>,
};

struct MeshOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) colour: vec4<f32>,
};

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

fn to_srgb(c: vec3<f32>) -> vec3<f32> {
    let x = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
    let lo = x * 12.92;
    let hi = 1.055 * pow(x, vec3<f32>(1.0 / 2.4)) - vec3<f32>(0.055);
    return select(hi, lo, x <= vec3<f32>(0.0031308));
}

@vertex
fn vs_mesh(v: MeshIn) -> MeshOut {
    var out: MeshOut;
    out.clip = scene.view_proj * vec4<f32>(v.position, 1.0);
    out.normal = v.normal;
    out.colour = v.colour;
    return out;
}

@fragment
fn fs_mesh(in: MeshOut) -> @location(0) vec4<f32> {
    var shade = 1.0;
    if (dot(in.normal, in.normal) > 0.25) {
        let n = normalize(in.normal);
        let diffuse = max(dot(n, scene.light.xyz), 0.0);
        shade = scene.light.w + (1.0 - scene.light.w) * diffuse;
    }
    let rgb = to_linear(in.colour.rgb) * shade;
    return vec4<f32>(to_srgb(rgb), 1.0);
}

struct Blit {
    // Framebuffer pixel of the offscreen image's top-left corner (xy); 1 when the target
    // stores linear values (an sRGB format: the hardware encodes), else 0 (z).
    origin: vec4<f32>,
};

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var<uniform> blit: Blit;

@vertex
fn vs_blit(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // (-1, -1), (3, -1), (-1, 3): covers the viewport.
    let x = f32((index << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(index & 2u) * 2.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}

@fragment
fn fs_blit(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let dims = vec2<i32>(textureDimensions(image));
    let texel = clamp(
        vec2<i32>(floor(position.xy - blit.origin.xy)),
        vec2<i32>(0, 0),
        dims - vec2<i32>(1, 1)
    );
    let c = textureLoad(image, texel, 0);
    if (blit.origin.z > 0.5) {
        return vec4<f32>(to_linear(c.rgb), 1.0);
    }
    return vec4<f32>(c.rgb, 1.0);
}
