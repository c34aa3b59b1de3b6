//! The 3D view's GPU side (`shaders/view3d.wgsl`): pipelines, the mesh's vertex and index
//! buffers (uploaded once per surfaces id, colours once per colouring), and an offscreen
//! colour + depth target, all kept in egui_wgpu's callback resources as egui's
//! custom3d_wgpu demo does. egui's own render pass has no depth buffer, so the scene is
//! drawn into the offscreen target in the callback's `prepare` (on egui's encoder, before
//! egui's pass) and copied into the callback's rectangle in `paint`. The offscreen pass is
//! skipped when nothing changed since the last frame.

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, RenderState, wgpu};
use wgpu::util::DeviceExt;

use super::scene::KneeSurfaces;

const SHADER: &str = include_str!("../../../../shaders/view3d.wgsl");
const COLOUR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// The view's background (sRGB-encoded, as stored in the offscreen target).
pub(super) const BACKGROUND: [u8; 3] = [22, 23, 28];

/// The shader's `Scene` uniform.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct SceneUniform {
    /// Column-major clip-from-world matrix (wgpu clip space, depth 0..1).
    pub view_proj: [[f32; 4]; 4],
    /// World direction towards the light, ambient share.
    pub light: [f32; 4],
    pub extra: [f32; 4],
}

/// Vertices of one primitive kind: position and normal (a zero normal draws unlit), and
/// sRGB colour.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Prims {
    pub pn: Vec<[f32; 6]>,
    pub colours: Vec<[u8; 4]>,
}

impl Prims {
    pub fn push(&mut self, p: [f32; 3], n: [f32; 3], c: [u8; 4]) {
        self.pn.push([p[0], p[1], p[2], n[0], n[1], n[2]]);
        self.colours.push(c);
    }
}

/// Everything one frame of the 3D view needs (plain data, built by the widget).
#[derive(Clone)]
pub(super) struct Frame3d {
    /// The callback's rectangle, in points.
    pub rect: egui::Rect,
    pub surfaces: Arc<KneeSurfaces>,
    /// One colour per mesh vertex, and what identifies this colouring.
    pub colours: Arc<Vec<[u8; 4]>>,
    pub colours_key: u64,
    /// Landmark spheres (triangle list) and plane outlines (line list).
    pub triangles: Prims,
    pub lines: Prims,
    pub uniform: SceneUniform,
}

/// What the last offscreen pass drew: equal means the image is still valid.
#[derive(PartialEq)]
struct DrawnKey {
    size: [u32; 2],
    surfaces: u64,
    colours: u64,
    uniform: SceneUniform,
    triangles: Prims,
    lines: Prims,
}

struct Target {
    size: [u32; 2],
    colour: wgpu::TextureView,
    depth: wgpu::TextureView,
    blit_group: wgpu::BindGroup,
}

struct MeshBuffers {
    id: u64,
    pn: Option<wgpu::Buffer>,
    index: Option<wgpu::Buffer>,
    vertices: usize,
    indices: u32,
}

/// A vertex buffer that grows as needed.
#[derive(Default)]
struct Growing(Option<(wgpu::Buffer, u64)>);

impl Growing {
    fn write(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, bytes: &[u8]) {
        let need = bytes.len() as u64;
        if need == 0 {
            return;
        }
        if self.0.as_ref().is_none_or(|(_, cap)| *cap < need) {
            let cap = need.next_power_of_two().max(4096);
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("srrd view3d dynamic"),
                size: cap,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.0 = Some((buffer, cap));
        }
        if let Some((b, _)) = &self.0 {
            queue.write_buffer(b, 0, bytes);
        }
    }

    fn slice(&self, bytes: u64) -> Option<wgpu::BufferSlice<'_>> {
        self.0.as_ref().map(|(b, _)| b.slice(..bytes))
    }
}

/// The GPU objects of the 3D view (in egui_wgpu's callback resources; one 3D view per
/// window).
pub struct View3dRenderer {
    mesh_pipeline: wgpu::RenderPipeline,
    line_pipeline: wgpu::RenderPipeline,
    blit_pipeline: wgpu::RenderPipeline,
    scene_buffer: wgpu::Buffer,
    scene_group: wgpu::BindGroup,
    blit_layout: wgpu::BindGroupLayout,
    blit_buffer: wgpu::Buffer,
    target: Option<Target>,
    mesh: Option<MeshBuffers>,
    colours: Option<(u64, wgpu::Buffer)>,
    dynamic: [Growing; 4],
    drawn: Option<DrawnKey>,
    srgb_target: bool,
    max_side: u32,
    /// Offscreen passes drawn (a frame whose image was still valid draws none).
    pub passes: u64,
}

fn uniform_entry(binding: u32, visibility: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_buffer(device: &wgpu::Device, size: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("srrd view3d uniform"),
        size: size as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

const PN_ATTRIBUTES: [wgpu::VertexAttribute; 2] =
    wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3];
const COLOUR_ATTRIBUTES: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![2 => Unorm8x4];

fn scene_pipeline(
    device: &wgpu::Device,
    shader: &wgpu::ShaderModule,
    layout: &wgpu::PipelineLayout,
    topology: wgpu::PrimitiveTopology,
) -> wgpu::RenderPipeline {
    let triangles = topology == wgpu::PrimitiveTopology::TriangleList;
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("srrd view3d scene"),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_mesh"),
            compilation_options: Default::default(),
            buffers: &[
                Some(wgpu::VertexBufferLayout {
                    array_stride: 24,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &PN_ATTRIBUTES,
                }),
                Some(wgpu::VertexBufferLayout {
                    array_stride: 4,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &COLOUR_ATTRIBUTES,
                }),
            ],
        },
        primitive: wgpu::PrimitiveState {
            topology,
            front_face: wgpu::FrontFace::Ccw,
            // Surfaces are closed and wound outward: their back faces are never seen.
            cull_mode: triangles.then_some(wgpu::Face::Back),
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_mesh"),
            compilation_options: Default::default(),
            targets: &[Some(COLOUR_FORMAT.into())],
        }),
        multiview_mask: None,
        cache: None,
    })
}

impl View3dRenderer {
    /// Creates the pipelines for the render state's target and puts the renderer in its
    /// callback resources.
    pub fn install(rs: &RenderState) {
        let device = &rs.device;
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("srrd view3d"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let scene_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("srrd view3d scene"),
            entries: &[uniform_entry(0, wgpu::ShaderStages::VERTEX_FRAGMENT)],
        });
        let scene_buffer = uniform_buffer(device, std::mem::size_of::<SceneUniform>());
        let scene_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("srrd view3d scene"),
            layout: &scene_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: scene_buffer.as_entire_binding(),
            }],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("srrd view3d scene"),
            bind_group_layouts: &[Some(&scene_layout)],
            immediate_size: 0,
        });
        let mesh_pipeline = scene_pipeline(
            device,
            &shader,
            &layout,
            wgpu::PrimitiveTopology::TriangleList,
        );
        let line_pipeline =
            scene_pipeline(device, &shader, &layout, wgpu::PrimitiveTopology::LineList);
        let blit_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("srrd view3d blit"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                uniform_entry(1, wgpu::ShaderStages::FRAGMENT),
            ],
        });
        let blit_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("srrd view3d blit"),
            bind_group_layouts: &[Some(&blit_layout)],
            immediate_size: 0,
        });
        let blit_pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("srrd view3d blit"),
            layout: Some(&blit_pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_blit"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_blit"),
                compilation_options: Default::default(),
                targets: &[Some(rs.target_format.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        let renderer = View3dRenderer {
            mesh_pipeline,
            line_pipeline,
            blit_pipeline,
            scene_buffer,
            scene_group,
            blit_layout,
            blit_buffer: uniform_buffer(device, 16),
            target: None,
            mesh: None,
            colours: None,
            dynamic: Default::default(),
            drawn: None,
            srgb_target: rs.target_format.is_srgb(),
            max_side: device.limits().max_texture_dimension_2d,
            passes: 0,
        };
        rs.renderer.write().callback_resources.insert(renderer);
    }

    fn ensure_target(&mut self, device: &wgpu::Device, size: [u32; 2]) {
        if self.target.as_ref().is_some_and(|t| t.size == size) {
            return;
        }
        let texture = |format, usage| {
            device
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some("srrd view3d target"),
                    size: wgpu::Extent3d {
                        width: size[0],
                        height: size[1],
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage,
                    view_formats: &[],
                })
                .create_view(&Default::default())
        };
        let colour = texture(
            COLOUR_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let depth = texture(DEPTH_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT);
        let blit_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("srrd view3d blit"),
            layout: &self.blit_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&colour),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: self.blit_buffer.as_entire_binding(),
                },
            ],
        });
        self.target = Some(Target {
            size,
            colour,
            depth,
            blit_group,
        });
        self.drawn = None;
    }

    fn ensure_mesh(&mut self, device: &wgpu::Device, s: &KneeSurfaces) {
        if self.mesh.as_ref().is_some_and(|m| m.id == s.id) {
            return;
        }
        let m = &s.mesh;
        let pn: Vec<[f32; 6]> = m
            .positions_mm
            .iter()
            .zip(&m.normals)
            .map(|(p, n)| [p[0], p[1], p[2], n[0], n[1], n[2]])
            .collect();
        let init = |label, contents: &[u8], usage| {
            (!contents.is_empty()).then(|| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
            })
        };
        self.mesh = Some(MeshBuffers {
            id: s.id,
            pn: init(
                "srrd view3d mesh",
                bytemuck::cast_slice(&pn),
                wgpu::BufferUsages::VERTEX,
            ),
            index: init(
                "srrd view3d indices",
                bytemuck::cast_slice(&m.indices),
                wgpu::BufferUsages::INDEX,
            ),
            vertices: pn.len(),
            indices: m.indices.len() as u32,
        });
    }

    fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        frame: &Frame3d,
        ppp: f32,
    ) {
        let side = |x: f32| ((x * ppp).round() as u32).clamp(1, self.max_side.max(1));
        let size = [side(frame.rect.width()), side(frame.rect.height())];
        let origin = [
            (frame.rect.min.x * ppp).round(),
            (frame.rect.min.y * ppp).round(),
            if self.srgb_target { 1.0 } else { 0.0 },
            0.0f32,
        ];
        queue.write_buffer(&self.blit_buffer, 0, bytemuck::cast_slice(&origin));
        self.ensure_target(device, size);
        self.ensure_mesh(device, &frame.surfaces);
        if self.colours.as_ref().map(|c| c.0) != Some(frame.colours_key) {
            self.colours = (!frame.colours.is_empty()).then(|| {
                let b = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("srrd view3d colours"),
                    contents: bytemuck::cast_slice(frame.colours.as_slice()),
                    usage: wgpu::BufferUsages::VERTEX,
                });
                (frame.colours_key, b)
            });
        }
        let key = DrawnKey {
            size,
            surfaces: frame.surfaces.id,
            colours: frame.colours_key,
            uniform: frame.uniform,
            triangles: frame.triangles.clone(),
            lines: frame.lines.clone(),
        };
        if self.drawn.as_ref() == Some(&key) {
            return;
        }
        queue.write_buffer(&self.scene_buffer, 0, bytemuck::bytes_of(&frame.uniform));
        let [tp, tc, lp, lc] = &mut self.dynamic;
        tp.write(device, queue, bytemuck::cast_slice(&frame.triangles.pn));
        tc.write(
            device,
            queue,
            bytemuck::cast_slice(&frame.triangles.colours),
        );
        lp.write(device, queue, bytemuck::cast_slice(&frame.lines.pn));
        lc.write(device, queue, bytemuck::cast_slice(&frame.lines.colours));
        let Some(target) = &self.target else {
            return;
        };
        let bg = BACKGROUND.map(|c| f64::from(c) / 255.0);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("srrd view3d"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &target.colour,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: bg[0],
                        g: bg[1],
                        b: bg[2],
                        a: 1.0,
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &target.depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            ..Default::default()
        });
        pass.set_pipeline(&self.mesh_pipeline);
        pass.set_bind_group(0, &self.scene_group, &[]);
        if let (Some(m), Some((_, colours))) = (&self.mesh, &self.colours)
            && let (Some(pn), Some(index)) = (&m.pn, &m.index)
            && m.vertices == frame.colours.len()
        {
            pass.set_vertex_buffer(0, pn.slice(..));
            pass.set_vertex_buffer(1, colours.slice(..));
            pass.set_index_buffer(index.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..m.indices, 0, 0..1);
        }
        let n = frame.triangles.pn.len();
        if let (Some(p), Some(c)) = (tp.slice(n as u64 * 24), tc.slice(n as u64 * 4))
            && n > 0
        {
            pass.set_vertex_buffer(0, p);
            pass.set_vertex_buffer(1, c);
            pass.draw(0..n as u32, 0..1);
        }
        let n = frame.lines.pn.len();
        if let (Some(p), Some(c)) = (lp.slice(n as u64 * 24), lc.slice(n as u64 * 4))
            && n > 0
        {
            pass.set_pipeline(&self.line_pipeline);
            pass.set_vertex_buffer(0, p);
            pass.set_vertex_buffer(1, c);
            pass.draw(0..n as u32, 0..1);
        }
        drop(pass);
        self.passes += 1;
        self.drawn = Some(key);
    }

    fn paint(&self, pass: &mut wgpu::RenderPass<'static>) {
        let Some(target) = &self.target else {
            return;
        };
        pass.set_pipeline(&self.blit_pipeline);
        pass.set_bind_group(0, &target.blit_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// The 3D view's paint callback.
pub(super) struct View3dCallback(pub Frame3d);

impl egui_wgpu::CallbackTrait for View3dCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<View3dRenderer>() {
            r.prepare(device, queue, encoder, &self.0, screen.pixels_per_point);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(r) = resources.get::<View3dRenderer>() {
            r.paint(pass);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_layout_matches_the_shader() {
        // mat4x4 + 2 vec4.
        assert_eq!(std::mem::size_of::<SceneUniform>(), 96);
        assert!(SHADER.contains("view_proj: mat4x4<f32>"));
    }
}
