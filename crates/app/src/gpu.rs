//! GPU slice rendering: each layer lives on the GPU as an R32Float 3D texture, and each
//! view draws its slice in one pass of `shaders/slice.wgsl` through an egui_wgpu paint
//! callback. The app says what to draw ([`SliceDraw`], plain data built every frame); this
//! module owns the GPU objects, kept in egui_wgpu's callback resources as egui's
//! custom3d_wgpu demo does. Textures are uploaded the first time a layer is drawn and
//! freed when the app no longer holds the layer.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, RenderState, wgpu};
use nalgebra::Vector3;

use super::slice::{Plane, SliceImage};
use super::viewer::Colormap;
use srrd_base::volume::Volume;

/// Layers composed in one pass (the shader's texture bindings).
pub const MAX_LAYERS: usize = 8;

const SHADER: &str = include_str!("../../../shaders/slice.wgsl");

/// The shader's code of a colour map (`colour()` in slice.wgsl).
fn shader_code(c: Colormap) -> f32 {
    match c {
        Colormap::Grey => 0.0,
        Colormap::Hot => 1.0,
        Colormap::Viridis => 2.0,
        Colormap::Jet => 3.0,
    }
}

/// One layer as a view draws it.
#[derive(Clone)]
pub struct DrawLayer {
    /// Identifies the layer's texture on the GPU (stable while the app holds the layer).
    pub id: u64,
    pub volume: Arc<Volume>,
    /// Window centre and width, in the image's units.
    pub window: (f32, f32),
    /// Weight over the layers below (1 for the bottom one).
    pub opacity: f32,
    pub colormap: Colormap,
    /// Shown moved by this fixed -> moving transform (see `Layer::moved_by`).
    pub moved_by: Option<srrd_base::volume::RigidTransform>,
}

/// How the layers of a view are composed (the shader's mode codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrawMode {
    /// Every layer over the one below, by its opacity.
    Alpha = 0,
    Checkerboard = 1,
    Yellow = 2,
    Difference = 3,
    MagentaGreen = 4,
    /// The first layer alone (flicker).
    Single = 5,
}

/// Everything one view needs to draw its slice.
#[derive(Clone)]
pub struct SliceDraw {
    /// Which view (its uniform buffer and bind group are its own).
    pub view: usize,
    pub plane: Plane,
    /// The slice's pixel grid (its values are not used).
    pub grid: SliceImage,
    /// The part of the grid the callback rectangle shows, in slice pixel coordinates
    /// (pixel centres at integers): `(x0, y0)` at the rectangle's top-left corner and
    /// `(x1, y1)` at its bottom-right corner.
    pub pixel_rect: [f32; 4],
    /// Bottom to top; for the two-layer modes, a then b.
    pub layers: Vec<DrawLayer>,
    pub mode: DrawMode,
    pub tile_px: f32,
    pub linear: bool,
    /// Ids of every layer the app holds: textures of the others are freed.
    pub live: Vec<u64>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerParams {
    origin: [f32; 4],
    du: [f32; 4],
    dv: [f32; 4],
    size: [f32; 4],
    style: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewParams {
    pixel_map: [f32; 4],
    flags: [f32; 4],
    extra: [f32; 4],
    layers: [LayerParams; MAX_LAYERS],
}

/// What the GPU can hold, known once the renderer is installed.
#[derive(Clone, Copy, Debug)]
pub struct GpuInfo {
    /// Largest 3D texture side: bigger volumes are drawn by the CPU renderer.
    pub max_dim: usize,
}

impl GpuInfo {
    /// Whether a volume fits in one 3D texture.
    pub fn fits(&self, v: &Volume) -> bool {
        v.geometry.size.iter().all(|&n| n >= 1 && n <= self.max_dim)
    }
}

/// `setup` with a device that may hold volumes: egui_wgpu asks the OpenGL backend for
/// WebGL2's limits (3D textures of 256 voxels a side), too small for a 640x640x120 MR;
/// this asks for the adapter's own 3D texture limit instead.
pub fn with_volume_limits(setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    let egui_wgpu::WgpuSetup::CreateNew(mut create) = setup else {
        return setup;
    };
    let base = create.device_descriptor.clone();
    create.device_descriptor = Arc::new(move |adapter: &wgpu::Adapter| {
        let mut desc = base(adapter);
        let have = adapter.limits();
        desc.required_limits.max_texture_dimension_3d = have.max_texture_dimension_3d;
        desc.required_limits.max_texture_dimension_2d = desc
            .required_limits
            .max_texture_dimension_2d
            .min(have.max_texture_dimension_2d);
        desc
    });
    egui_wgpu::WgpuSetup::CreateNew(create)
}

/// The continuous voxel index of `volume` at slice pixel (0, 0) of `grid`, and its steps
/// per pixel along the slice's x and y: each layer's own affine, so layers on any grid
/// line up where their world coordinates agree.
pub fn pixel_to_index(
    volume: &Volume,
    plane: Plane,
    grid: &SliceImage,
    moved_by: Option<&srrd_base::volume::RigidTransform>,
) -> (Vector3<f64>, Vector3<f64>, Vector3<f64>) {
    use srrd_base::volume::PointTransform;
    let g = &volume.geometry;
    let (u, v, _) = plane.axes();
    let at = |x: f64, y: f64| {
        let p = grid.corner_mm + u * (x * grid.pixel_mm) + v * (y * grid.pixel_mm);
        g.world_to_index(&moved_by.map_or(p, |t| t.transform_point(&p)))
    };
    let o = at(0.0, 0.0);
    (o, at(1.0, 0.0) - o, at(0.0, 1.0) - o)
}

impl SliceDraw {
    fn params(&self, srgb_target: bool) -> ViewParams {
        let [x0, y0, x1, y1] = self.pixel_rect;
        let mut layers = [LayerParams::default(); MAX_LAYERS];
        for (p, l) in layers.iter_mut().zip(&self.layers) {
            let (o, du, dv) =
                pixel_to_index(&l.volume, self.plane, &self.grid, l.moved_by.as_ref());
            let v4 = |x: Vector3<f64>| [x.x as f32, x.y as f32, x.z as f32, 0.0];
            let n = l.volume.geometry.size;
            let (c, w) = l.window;
            *p = LayerParams {
                origin: v4(o),
                du: v4(du),
                dv: v4(dv),
                size: [n[0] as f32, n[1] as f32, n[2] as f32, 0.0],
                style: [c - w / 2.0, w, l.opacity, shader_code(l.colormap)],
            };
        }
        ViewParams {
            pixel_map: [x0, y0, x1 - x0, y1 - y0],
            flags: [
                self.layers.len().min(MAX_LAYERS) as f32,
                if self.linear { 1.0 } else { 0.0 },
                if srgb_target { 1.0 } else { 0.0 },
                self.mode as u32 as f32,
            ],
            extra: [self.tile_px, 0.0, 0.0, 0.0],
            layers,
        }
    }
}

struct ViewBinding {
    buffer: wgpu::Buffer,
    /// The layer ids bound, and the bind group.
    bound: Option<(Vec<u64>, wgpu::BindGroup)>,
}

/// The GPU objects of the slice views (in egui_wgpu's callback resources).
pub struct SliceRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    /// A 1x1x1 texture for unused bindings.
    empty: wgpu::TextureView,
    textures: HashMap<u64, wgpu::TextureView>,
    views: HashMap<usize, ViewBinding>,
    srgb_target: bool,
    /// Seconds the last upload took (for the benchmark).
    pub last_upload_s: f64,
}

fn create_texture(device: &wgpu::Device, size: [usize; 3]) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("srrd volume"),
        size: wgpu::Extent3d {
            width: size[0] as u32,
            height: size[1] as u32,
            depth_or_array_layers: size[2] as u32,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format: wgpu::TextureFormat::R32Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

/// What a voxel without a value (NaN) is uploaded as: the shader reads anything below
/// -1e37 as "no value" (also after trilinear mixing with a real neighbour).
const NO_VALUE: f32 = -3.0e38;

/// Copies a volume's voxels (i fastest) into a new 3D texture, NaN as [`NO_VALUE`].
fn upload(device: &wgpu::Device, queue: &wgpu::Queue, volume: &Volume) -> wgpu::TextureView {
    let size = volume.geometry.size;
    let texture = create_texture(device, size);
    let data = volume.data.as_standard_layout();
    let mut voxels: std::borrow::Cow<[f32]> = data.as_slice().unwrap_or(&[]).into();
    if voxels.iter().any(|v| v.is_nan()) {
        for v in voxels.to_mut().iter_mut().filter(|v| v.is_nan()) {
            *v = NO_VALUE;
        }
    }
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture: &texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        bytemuck::cast_slice(&voxels),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(size[0] as u32 * 4),
            rows_per_image: Some(size[1] as u32),
        },
        texture.size(),
    );
    texture.create_view(&wgpu::TextureViewDescriptor::default())
}

impl SliceRenderer {
    /// Creates the pipeline for the render state's target and puts the renderer in its
    /// callback resources; returns what the GPU can hold.
    pub fn install(rs: &RenderState) -> GpuInfo {
        let device = &rs.device;
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("srrd slice"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for b in 0..MAX_LAYERS as u32 {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: 1 + b,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D3,
                    multisampled: false,
                },
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("srrd slice"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("srrd slice"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("srrd slice"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(rs.target_format.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        let empty = create_texture(device, [1, 1, 1]).create_view(&Default::default());
        let max_dim = device.limits().max_texture_dimension_3d as usize;
        rs.renderer
            .write()
            .callback_resources
            .insert(SliceRenderer {
                pipeline,
                layout,
                empty,
                textures: HashMap::new(),
                views: HashMap::new(),
                srgb_target: rs.target_format.is_srgb(),
                last_upload_s: 0.0,
            });
        GpuInfo { max_dim }
    }

    fn prepare(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, draw: &SliceDraw) {
        self.textures.retain(|id, _| draw.live.contains(id));
        for l in draw.layers.iter().take(MAX_LAYERS) {
            if !self.textures.contains_key(&l.id) {
                let start = std::time::Instant::now();
                let view = upload(device, queue, &l.volume);
                self.last_upload_s = start.elapsed().as_secs_f64();
                self.textures.insert(l.id, view);
            }
        }
        let ids: Vec<u64> = draw.layers.iter().take(MAX_LAYERS).map(|l| l.id).collect();
        let binding = self.views.entry(draw.view).or_insert_with(|| ViewBinding {
            buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("srrd view"),
                size: std::mem::size_of::<ViewParams>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            bound: None,
        });
        let params = draw.params(self.srgb_target);
        queue.write_buffer(&binding.buffer, 0, bytemuck::bytes_of(&params));
        // Textures of a layer id never change, so the same ids need no new bind group;
        // freed textures are only those of ids no longer live, hence not in `ids`.
        if binding.bound.as_ref().map(|(b, _)| b) != Some(&ids) {
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: binding.buffer.as_entire_binding(),
            }];
            for slot in 0..MAX_LAYERS {
                let view = ids
                    .get(slot)
                    .and_then(|id| self.textures.get(id))
                    .unwrap_or(&self.empty);
                entries.push(wgpu::BindGroupEntry {
                    binding: 1 + slot as u32,
                    resource: wgpu::BindingResource::TextureView(view),
                });
            }
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("srrd view"),
                layout: &self.layout,
                entries: &entries,
            });
            binding.bound = Some((ids, group));
        }
    }

    fn paint(&self, view: usize, pass: &mut wgpu::RenderPass<'static>) {
        let Some((_, group)) = self.views.get(&view).and_then(|b| b.bound.as_ref()) else {
            return;
        };
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.draw(0..6, 0..1);
    }
}

/// The paint callback of one view.
pub struct SliceCallback(pub SliceDraw);

impl egui_wgpu::CallbackTrait for SliceCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<SliceRenderer>() {
            r.prepare(device, queue, &self.0);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(r) = resources.get::<SliceRenderer>() {
            r.paint(self.0.view, pass);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Matrix3, Point3};
    use srrd_base::volume::Geometry;

    #[test]
    fn pixel_steps_follow_each_layers_own_grid() {
        // An oblique, anisotropic grid: stepping one slice pixel must move the continuous
        // index exactly as world_to_index does at that pixel.
        let mut g = Geometry::new([30, 40, 20], [0.7, 0.9, 2.5], [-5.0, 3.0, 10.0]);
        let a = 0.3f64;
        g.direction = Matrix3::new(a.cos(), -a.sin(), 0.0, a.sin(), a.cos(), 0.0, 0.0, 0.0, 1.0);
        let v = Volume::filled(g.clone(), 0.0);
        let grid = SliceImage {
            width: 64,
            height: 48,
            values: Vec::new(),
            corner_mm: Point3::new(-10.0, -2.0, 25.0),
            pixel_mm: 0.5,
        };
        for plane in [Plane::Axial, Plane::Coronal, Plane::Sagittal] {
            let (o, du, dv) = pixel_to_index(&v, plane, &grid, None);
            for (x, y) in [(0.0, 0.0), (10.5, 3.0), (63.0, 47.0)] {
                let want = g.world_to_index(&grid.world_at(plane, x, y));
                let got = o + du * x + dv * y;
                assert!(
                    (want - got).norm() < 1e-9,
                    "{plane:?} ({x}, {y}): {want} vs {got}"
                );
            }
        }
    }

    #[test]
    fn uniform_layout_matches_the_shader() {
        // 3 vec4 + 8 layers of 5 vec4: the WGSL struct's size (uniform layout, 16-byte
        // aligned members).
        assert_eq!(std::mem::size_of::<ViewParams>(), (3 + 8 * 5) * 16);
        assert!(SHADER.contains("layers: array<LayerParams, 8>"));
    }
}
