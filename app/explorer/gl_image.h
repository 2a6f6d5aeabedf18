// OpenGL textures for model images and the image-quad renderer (shaders/image_quad.*): images are
// drawn inside ImGui windows through draw-list callbacks, crisp at any zoom (sharp-bilinear
// sampling) with a faint pixel grid when zoomed in far. Main thread only.
#pragma once
#include <deque>
#include <memory>
#include <unordered_map>

#include "ali/inference_worker.h"
#include "image.h"
#include "imgui.h"

namespace ali::explorer {

class Texture {
 public:
  Texture() = default;
  ~Texture();
  Texture(const Texture&) = delete;
  Texture& operator=(const Texture&) = delete;
  // (Re)uploads; grey buffers become R8 textures swizzled to grey RGB.
  void upload(const PixelBuffer& b);
  unsigned id() const { return id_; }
  int width() const { return w_; }
  int height() const { return h_; }
  bool valid() const { return id_ != 0 && w_ > 0; }

 private:
  unsigned id_ = 0;
  int w_ = 0, h_ = 0, c_ = 0;
};

class ImageRenderer {
 public:
  // Compiles the baked-in shaders. Throws ali::Error with the GLSL log on failure.
  void init();
  void shutdown();
  // Draws tex into the rectangle [p0, p1) of the current window's draw list.
  void draw(const Texture& tex, ImVec2 p0, ImVec2 p1, float alpha = 1.0f);
  // Call once per frame after rendering: frees the per-frame command storage.
  void end_frame() { commands_.clear(); }

  struct Command {
    ImageRenderer* self;
    unsigned texture;
    float x0, y0, x1, y1;
    float alpha;
    float texels_per_pixel;
  };

 private:
  static void callback(const ImDrawList* list, const ImDrawCmd* cmd);
  unsigned program_ = 0, vao_ = 0;
  int u_rect_ = -1, u_tex_ = -1, u_alpha_ = -1, u_grid_ = -1, u_size_ = -1;
  std::deque<Command> commands_;
};

// Textures for the state's Images (image.h): one per version, uploaded once; textures not drawn for
// a few seconds are freed (replaced versions, removed drops, closed tabs).
class TextureCache {
 public:
  const Texture* get(const Image& img);  // nullptr while the image is empty
  void end_frame();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Texture tex;
    uint64_t used = 0;  // frame
  };
  // Keyed by the image's version (unique over the program), not its address: a copy of an Image
  // (a temporary) finds its texture, and two images that share an address in turn (one stack slot)
  // no longer overwrite each other's texture within a frame. A replaced version's texture goes
  // once unused for 120 frames.
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> entries_;
  uint64_t frame_ = 0;
};

// The GUI's GL objects: made once the window exists, current for image_widget.
struct Gpu {
  ImageRenderer renderer;
  TextureCache textures;
  void end_frame() {
    renderer.end_frame();
    textures.end_frame();
  }
};
void set_current_gpu(Gpu* gpu);

// An image widget: fits `img` into (max_w, max_h) keeping aspect (integer zoom when that loses
// <10%), reserves the space like ImGui::Image (an outline while the image is empty). Returns the
// item's rectangle size; hovering/clicking as for any item.
ImVec2 image_widget(const Image& img, float max_w, float max_h, const char* id = nullptr);
// Draws `img` into [p0, p1) of the current window without taking layout space (pictures placed on
// a canvas, e.g. the latent map's thumbnails). False while the image is empty.
bool draw_image(const Image& img, ImVec2 p0, ImVec2 p1, float alpha = 1.0f);

}  // namespace ali::explorer
