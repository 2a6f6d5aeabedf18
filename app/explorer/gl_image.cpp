#include "gl_image.h"

#include <epoxy/gl.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "ali/error.h"
#include "baked_shaders.h"

namespace ali::explorer {

Texture::~Texture() {
  if (id_) glDeleteTextures(1, &id_);
}

void Texture::upload(const PixelBuffer& b) {
  if (b.empty()) return;
  if (!id_) glGenTextures(1, &id_);
  glBindTexture(GL_TEXTURE_2D, id_);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  GLenum fmt = b.channels == 1 ? GL_RED : b.channels == 4 ? GL_RGBA : GL_RGB;
  GLint internal = b.channels == 1 ? GL_R8 : b.channels == 4 ? GL_RGBA8 : GL_RGB8;
  if (b.width == w_ && b.height == h_ && b.channels == c_) {
    glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, b.width, b.height, fmt, GL_UNSIGNED_BYTE,
                    b.pixels.data());
  } else {
    glTexImage2D(GL_TEXTURE_2D, 0, internal, b.width, b.height, 0, fmt, GL_UNSIGNED_BYTE,
                 b.pixels.data());
    // Linear filtering, but the image shader samples texel centres (sharp bilinear), so small
    // images stay crisp at any zoom; minified they blend rather than alias.
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    GLint grey[4] = {GL_RED, GL_RED, GL_RED, GL_ONE};
    GLint colour[4] = {GL_RED, GL_GREEN, GL_BLUE, b.channels == 4 ? GL_ALPHA : GL_ONE};
    glTexParameteriv(GL_TEXTURE_2D, GL_TEXTURE_SWIZZLE_RGBA, b.channels == 1 ? grey : colour);
    w_ = b.width;
    h_ = b.height;
    c_ = b.channels;
  }
}

namespace {
unsigned compile(GLenum type, const char* src, const char* name) {
  unsigned s = glCreateShader(type);
  glShaderSource(s, 1, &src, nullptr);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048];
    glGetShaderInfoLog(s, sizeof log, nullptr, log);
    glDeleteShader(s);
    throw Error(std::string("shader ") + name + " does not compile: " + log);
  }
  return s;
}
}  // namespace

void ImageRenderer::init() {
  unsigned vs = compile(GL_VERTEX_SHADER, shaders::image_quad_vert, "image_quad.vert");
  unsigned fs = compile(GL_FRAGMENT_SHADER, shaders::image_quad_frag, "image_quad.frag");
  program_ = glCreateProgram();
  glAttachShader(program_, vs);
  glAttachShader(program_, fs);
  glLinkProgram(program_);
  glDeleteShader(vs);
  glDeleteShader(fs);
  GLint ok = 0;
  glGetProgramiv(program_, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[2048];
    glGetProgramInfoLog(program_, sizeof log, nullptr, log);
    throw Error(std::string("image shader does not link: ") + log);
  }
  u_rect_ = glGetUniformLocation(program_, "u_rect");
  u_tex_ = glGetUniformLocation(program_, "u_tex");
  u_alpha_ = glGetUniformLocation(program_, "u_alpha");
  u_grid_ = glGetUniformLocation(program_, "u_grid");
  u_size_ = glGetUniformLocation(program_, "u_tex_size");
  glGenVertexArrays(1, &vao_);  // the quad's corners come from gl_VertexID
}

void ImageRenderer::shutdown() {
  if (vao_) glDeleteVertexArrays(1, &vao_);
  if (program_) glDeleteProgram(program_);
  vao_ = program_ = 0;
}

void ImageRenderer::draw(const Texture& tex, ImVec2 p0, ImVec2 p1, float alpha) {
  if (!tex.valid() || !program_) return;
  float zoom = (p1.x - p0.x) / float(tex.width());
  commands_.push_back({this, tex.id(), p0.x, p0.y, p1.x, p1.y, alpha, zoom});
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddCallback(&ImageRenderer::callback, &commands_.back());
  dl->AddCallback(ImDrawCallback_ResetRenderState, nullptr);
}

void ImageRenderer::callback(const ImDrawList*, const ImDrawCmd* cmd) {
  const auto* c = static_cast<const Command*>(cmd->UserCallbackData);
  const ImageRenderer& r = *c->self;
  const ImDrawData* dd = ImGui::GetDrawData();
  ImVec2 pos = dd->DisplayPos, size = dd->DisplaySize, scale = dd->FramebufferScale;
  int fb_h = int(size.y * scale.y);
  ImVec4 clip = cmd->ClipRect;
  glEnable(GL_SCISSOR_TEST);
  glScissor(int((clip.x - pos.x) * scale.x), int(fb_h - (clip.w - pos.y) * scale.y),
            int((clip.z - clip.x) * scale.x), int((clip.w - clip.y) * scale.y));
  auto nx = [&](float x) { return (x - pos.x) / size.x * 2.0f - 1.0f; };
  auto ny = [&](float y) { return 1.0f - (y - pos.y) / size.y * 2.0f; };
  glUseProgram(r.program_);
  glBindVertexArray(r.vao_);
  glActiveTexture(GL_TEXTURE0);
  glBindTexture(GL_TEXTURE_2D, c->texture);
  glUniform1i(r.u_tex_, 0);
  glUniform4f(r.u_rect_, nx(c->x0), ny(c->y0), nx(c->x1), ny(c->y1));
  glUniform1f(r.u_alpha_, c->alpha);
  // A faint grid between texels once each texel covers 12+ screen pixels (inspecting 28x28 images).
  glUniform1f(r.u_grid_, c->texels_per_pixel >= 12.0f ? 0.12f : 0.0f);
  GLint w = 0, h = 0;
  glGetTexLevelParameteriv(GL_TEXTURE_2D, 0, GL_TEXTURE_WIDTH, &w);
  glGetTexLevelParameteriv(GL_TEXTURE_2D, 0, GL_TEXTURE_HEIGHT, &h);
  glUniform2f(r.u_size_, float(w), float(h));
  glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
}

namespace {
Gpu* current_gpu = nullptr;
}

void set_current_gpu(Gpu* gpu) { current_gpu = gpu; }

const Texture* TextureCache::get(const Image& img) {
  if (img.empty()) return nullptr;
  auto& e = entries_[img.version];
  if (!e) {
    e = std::make_unique<Entry>();
    e->tex.upload(img.pixels);
  }
  e->used = frame_;
  return &e->tex;
}

void TextureCache::end_frame() {
  ++frame_;
  if (frame_ % 60) return;
  std::erase_if(entries_, [&](const auto& kv) { return frame_ - kv.second->used > 120; });
}

ImVec2 image_widget(const Image& img, float max_w, float max_h, const char* id) {
  const Texture* tex = current_gpu ? current_gpu->textures.get(img) : nullptr;
  if (!tex || !tex->valid()) {
    ImVec2 sz(std::max(8.0f, std::min(max_w, max_h)), std::max(8.0f, std::min(max_w, max_h)));
    ImVec2 p = ImGui::GetCursorScreenPos();
    ImGui::Dummy(sz);
    ImGui::GetWindowDrawList()->AddRect(p, ImVec2(p.x + sz.x, p.y + sz.y),
                                        ImGui::GetColorU32(ImGuiCol_Border));
    return sz;
  }
  float s = std::min(max_w / float(tex->width()), max_h / float(tex->height()));
  // Integer zoom keeps every texel the same size, unless it would waste a lot of the space.
  if (s >= 1.0f && std::floor(s) / s > 0.9f) s = std::floor(s);
  s = std::max(s, 0.05f);
  ImVec2 sz(tex->width() * s, tex->height() * s);
  ImVec2 p = ImGui::GetCursorScreenPos();
  if (id)
    ImGui::InvisibleButton(id, sz);
  else
    ImGui::Dummy(sz);
  current_gpu->renderer.draw(*tex, p, ImVec2(p.x + sz.x, p.y + sz.y));
  return sz;
}

bool draw_image(const Image& img, ImVec2 p0, ImVec2 p1, float alpha) {
  const Texture* tex = current_gpu ? current_gpu->textures.get(img) : nullptr;
  if (!tex || !tex->valid()) return false;
  current_gpu->renderer.draw(*tex, p0, p1, alpha);
  return true;
}

}  // namespace ali::explorer
